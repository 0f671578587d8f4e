/*
 * vf_arf.h: reads ARF feedback reports (RFC 5965, RFC 6591, and the older
 * draft format): the feedback type, reporter, source IP, auth failure and
 * the original recipients (Original-Rcpt-To, Removal-Recipient, else the To
 * of the included message or headers).
 * Memory: the caller owns the vf_arf; it holds copies only.
 * Thread-safety: no shared state.
 */
#ifndef VF_ARF_H
#define VF_ARF_H

#include <stddef.h>

#define VF_ARF_MAX_RCPTS 16

typedef struct vf_arf {
    int is_report;          /* a message/feedback-report part was found */
    char feedback_type[32]; /* lower-case: abuse, opt-out, auth-failure, ... */
    char user_agent[128];
    char version[16];
    char source_ip[64];
    char auth_failure[32]; /* lower-case */
    char original_mail_from[320];
    char original_message_id[256];
    char subject[256]; /* Subject of the reported message */
    int n_rcpts;
    char rcpts[VF_ARF_MAX_RCPTS][320]; /* lower-cased, without brackets */
} vf_arf;

/* Parses len bytes. Returns 0 (is_report says whether it was ARF), -1 on
 * out-of-memory. */
int vf_arf_parse(const char *raw, size_t len, vf_arf *out);

/* 1 when this feedback type means "stop sending to this recipient". */
int vf_arf_suppresses(const vf_arf *a);

#endif
