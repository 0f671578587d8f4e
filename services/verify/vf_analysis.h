/*
 * vf_analysis.h: judgements over the store's numbers: which recipient
 * domains have clustered rejections (with a remedy in plain words), and the
 * organization's bounce and complaint rates against thresholds.
 * Memory: callers own every struct. Thread-safety: as vf_store.
 */
#ifndef VF_ANALYSIS_H
#define VF_ANALYSIS_H

#include "vf_store.h"

/* A domain is flagged when at least 5 recipients were rejected and they are
 * at least 20% of its volume, or when at least 10 were deferred and they are
 * a third of it. */
typedef struct vf_domain_verdict {
    int flagged;
    Xd__FailureCategory main_category;
    char remedy[512];
} vf_domain_verdict;

void vf_domain_judge(const vf_settings *s, const vf_domain_row *row, vf_domain_verdict *out);

/* The plain-words remedy for a failure category at a domain. */
void vf_remedy_text(const vf_settings *s, Xd__FailureCategory cat, const char *domain, char *out,
                    size_t size);

typedef struct vf_rate_window {
    unsigned days;
    vf_counts counts;
    double bounce_rate, complaint_rate;
    Xd__HealthLevel bounce_level, complaint_level;
} vf_rate_window;

typedef struct vf_health {
    vf_rate_window windows[2]; /* 7 and 30 days */
    Xd__HealthLevel level;
    char summary[512];
} vf_health;

xd_code vf_org_health(vf_store *store, const char *org_id, vf_health *out, xd_err *err);

#endif
