/*
 * vf_classify.h: classifies an SMTP reply or bounce diagnostic.
 *
 * Input is a reply code (0 = unknown), an RFC 3463 enhanced status ("" =
 * unknown) and free text. Output is a reason word in sisimai's vocabulary
 * ("userunknown", "mailboxfull", ...; finer than KumoMTA's classes), the
 * FailureCategory it belongs to and whether the failure is permanent for the
 * address (a hard bounce that should suppress). Text phrases win over codes
 * because receivers often send generic codes with precise text.
 * Thread-safety: pure functions over constant tables.
 */
#ifndef VF_CLASSIFY_H
#define VF_CLASSIFY_H

#include "common.pb-c.h"

typedef struct vf_class {
    const char *reason; /* static string, never NULL ("undefined") */
    Xd__FailureCategory category;
    int hard; /* 1 = permanent for this address: suppress */
} vf_class;

vf_class vf_classify(unsigned reply_code, const char *enhanced, const char *text);

/* The FailureCategory of a reason word; FAILURE_CATEGORY_OTHER if unknown. */
Xd__FailureCategory vf_reason_category(const char *reason);

/* Finds an RFC 3463 status ("5.1.1") in text; copies it into out (>= 16
 * bytes); returns 1 when found. */
int vf_find_status(const char *text, char *out);

/* Finds an SMTP reply code (4xx/5xx) at a word boundary in text; 0 if none. */
unsigned vf_find_reply_code(const char *text);

#endif
