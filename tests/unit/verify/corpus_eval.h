/*
 * corpus_eval.h: measures the bounce and ARF parsers on the shared corpora
 * (sisimai set-of-emails, KumoMTA DSN fixtures, ARF reports) and prints the
 * figures and misses. Used by the accuracy test and by hand.
 */
#ifndef CORPUS_EVAL_H
#define CORPUS_EVAL_H

typedef struct corpus_figures {
    int rows;        /* expected recipient rows (bounces, excluding ARF) */
    int found;       /* rows whose file gave a recipient at that position */
    int reason_ok;   /* same sisimai reason */
    int category_ok; /* same FailureCategory */
    int status_ok;   /* same RFC 3463 status (pseudo 9xx codes excluded) */
    int status_rows;
    int hard_ok;       /* same hard/soft verdict */
    int not_bounce_ok; /* maildir/not files classified as not bounces */
    int not_bounce_rows;
    int vacation_ok; /* vacation rows seen as auto-replies */
    int vacation_rows;
    int feedback_ok; /* sisimai arf rows recognised as feedback */
    int feedback_rows;
    int eol_ok; /* dos/ and mac/ copies giving the bsd/ result */
    int eol_rows;
} corpus_figures;

/* verbose: print each miss. Returns 0, or -1 when the corpus is missing. */
int corpus_eval_sisimai(const char *corpora, int verbose, corpus_figures *out);

typedef struct kumo_figures {
    int rows, found, action_ok, status_ok, diag_ok;
} kumo_figures;
int corpus_eval_kumo(const char *corpora, int verbose, kumo_figures *out);

#endif
