/*
 * vf_diagnose.h: walks support's troubleshooting steps for one recipient
 * around a time and returns a verdict, the evidence and the next steps.
 *
 * Steps: is there a record? accepted, by whom, with which reply? bounced
 * later? suppressed or opted out? complained? is the address valid and its
 * domain taking mail (through an optional checker, so the logic needs no
 * DNS in unit tests)? is the same domain failing for others?
 * Memory: the caller owns vf_diagnosis (about 12 KiB). Thread-safety: as
 * vf_store.
 */
#ifndef VF_DIAGNOSE_H
#define VF_DIAGNOSE_H

#include "vf_store.h"

#define VF_DIAG_MAX_STEPS 10
#define VF_DIAG_MAX_NEXT  6

/* Address checker: fills a plain-words finding; returns 1 when the address
 * cannot receive mail (bad syntax, NXDOMAIN, null MX), 0 when fine, -1 when
 * it could not tell (DNS down). */
typedef int (*vf_address_checker)(void *ud, const char *address, char *finding, size_t size);

typedef struct vf_diag_step {
    char question[96];
    char finding[512];
    int problem;
} vf_diag_step;

typedef struct vf_diagnosis {
    Xd__DiagnoseVerdict verdict;
    char summary[512];
    int n_steps;
    vf_diag_step steps[VF_DIAG_MAX_STEPS];
    int n_next;
    char next[VF_DIAG_MAX_NEXT][320];
    int has_record;
    vf_record_buf record;
} vf_diagnosis;

typedef struct vf_diagnose_request {
    const char *org_id, *recipient, *message_id;
    int64_t around_ms, window_ms; /* 0 = now, 0 = 3 days */
} vf_diagnose_request;

xd_code vf_diagnose(vf_store *store, const vf_diagnose_request *req, vf_address_checker checker,
                    void *checker_ud, vf_diagnosis *out, xd_err *err);

#endif
