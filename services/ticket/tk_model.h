/*
 * tk_model.h: the ticket service's plain data: statuses, issue types,
 * intake verdicts and findings, tickets and comments, and their limits.
 *
 * Enum numbers equal those of proto/ticket.proto (and verify's
 * DiagnoseVerdict), so handlers convert by range-checked casts.
 * Memory: string fields are borrowed; whoever fills a struct says where they
 * live (usually an xd_arena of the call). Thread-safety: plain values.
 */
#ifndef TK_MODEL_H
#define TK_MODEL_H

#include <stdint.h>

/* Input bounds (bytes). */
#define TK_TEXT_MAX      8000 /* description, additional_info, comment body */
#define TK_NAME_MAX      200  /* reporter, author, assignee */
#define TK_MODULE_MAX    128  /* sending method */
#define TK_KEY_MAX       128  /* idempotency key, message id */
#define TK_ORG_MAX       128  /* organization id */
#define TK_DOMAIN_MAX    255  /* recipient domain (A-label form) */
#define TK_ADDRESS_MAX   254  /* recipient address */
#define TK_TIME_TEXT_MAX 40   /* occurred_at text */
#define TK_STEPS_MAX     16   /* diagnosis steps kept */
#define TK_NEXT_MAX      8    /* verify next steps kept */
#define TK_FINDING_MAX   1024 /* one diagnosis string kept */
#define TK_COMMENTS_MAX  500  /* comments one ticket keeps */

typedef enum tk_status {
    TK_STATUS_UNSPECIFIED = 0,
    TK_STATUS_OPEN = 1,
    TK_STATUS_INVESTIGATING = 2,
    TK_STATUS_WAITING_ON_CUSTOMER = 3,
    TK_STATUS_WAITING_ON_RECIPIENT_IT = 4,
    TK_STATUS_RESOLVED = 5,
    TK_STATUS_CLOSED = 6,
} tk_status;
#define TK_STATUS_COUNT 7

typedef enum tk_issue {
    TK_ISSUE_UNSPECIFIED = 0,
    TK_ISSUE_NOT_RECEIVED = 1,
    TK_ISSUE_SPAM_FOLDER = 2,
    TK_ISSUE_REJECTED = 3,
    TK_ISSUE_FORMATTING = 4,
    TK_ISSUE_MISSING_BANNER = 5,
    TK_ISSUE_OTHER = 6,
} tk_issue;
#define TK_ISSUE_COUNT 7

typedef enum tk_other_domain {
    TK_OTHER_UNSPECIFIED = 0,
    TK_OTHER_YES = 1,
    TK_OTHER_NO = 2,
    TK_OTHER_UNKNOWN = 3,
} tk_other_domain;

typedef enum tk_findings_state {
    TK_FINDINGS_UNSPECIFIED = 0,
    TK_FINDINGS_PENDING = 1,
    TK_FINDINGS_COMPLETE = 2,
    TK_FINDINGS_FAILED = 3,
} tk_findings_state;

typedef enum tk_verdict {
    TK_VERDICT_UNSPECIFIED = 0,
    TK_VERDICT_NO_RECORD = 1,
    TK_VERDICT_DELIVERED = 2,
    TK_VERDICT_IN_PROGRESS = 3,
    TK_VERDICT_BOUNCED = 4,
    TK_VERDICT_SUPPRESSED = 5,
    TK_VERDICT_COMPLAINED = 6,
    TK_VERDICT_INVALID_ADDRESS = 7,
    TK_VERDICT_EXPIRED = 8,
    TK_VERDICT_DOMAIN_PROBLEM = 9,
} tk_verdict;
#define TK_VERDICT_COUNT 10

typedef enum tk_action {
    TK_ACTION_UNSPECIFIED = 0,
    TK_ACTION_AWAIT_CHECK = 1,
    TK_ACTION_ESCALATE_TO_XENEGRADE = 2,
    TK_ACTION_CONTACT_RECIPIENT_IT = 3,
    TK_ACTION_CONFIRM_ADDRESS = 4,
    TK_ACTION_RESOLVE_WITH_EXPLANATION = 5,
    TK_ACTION_WAIT_FOR_RETRIES = 6,
    TK_ACTION_REVIEW_MANUALLY = 7,
} tk_action;

/* xd.FailureCategory numbers the intake distinguishes (common.proto). */
enum {
    TK_FAIL_INVALID_RECIPIENT = 1,
    TK_FAIL_MAILBOX_FULL = 2,
    TK_FAIL_MAILBOX_DISABLED = 3,
    TK_FAIL_CONTENT_BLOCK = 4,
    TK_FAIL_POLICY_BLOCK = 5,
    TK_FAIL_AUTH_FAILURE = 6,
    TK_FAIL_RATE_LIMITED = 7,
    TK_FAIL_DNS_FAILURE = 8,
    TK_FAIL_TLS_FAILURE = 9,
    TK_FAIL_CONNECTION_FAILURE = 10,
    TK_FAIL_MESSAGE_TOO_LARGE = 11,
};

/* One troubleshooting step of a diagnosis. */
typedef struct tk_step {
    const char *question;
    const char *finding;
    int problem;
} tk_step;

/* What verify.Diagnose answered, as plain values. */
typedef struct tk_diagnosis {
    tk_verdict verdict;
    const char *summary;
    int record_found;
    int record_state; /* xd.RecipientState number */
    int reply_code;   /* SMTP reply code, 0 = none */
    const char *reply_enhanced;
    const char *reply_text;
    const char *remote_host;
    int64_t delivered_ms, bounced_ms, suppressed_ms;
    int failure_category; /* xd.FailureCategory number */
    const char *case_note;
    tk_step steps[TK_STEPS_MAX];
    int n_steps;
    const char *next_steps[TK_NEXT_MAX];
    int n_next;
} tk_diagnosis;

/* The intake findings attached to a ticket. */
typedef struct tk_findings {
    tk_findings_state state;
    tk_diagnosis d; /* meaningful when state is COMPLETE */
    int suppressed;
    int domain_problem;
    tk_action action;
    const char *next_step;
    int64_t checked_ms;
    int attempts;
    const char *last_error;
    int64_t next_check_ms; /* PENDING: when the re-check is due */
} tk_findings;

typedef struct tk_comment {
    int64_t seq;
    const char *author;
    const char *body;
    int internal;
    int64_t created_ms;
} tk_comment;

typedef struct tk_ticket {
    int64_t id; /* shown as XD-%06lld */
    const char *org_id;
    tk_status status;
    int status_changes; /* moves made by people since filing */
    tk_issue issue_type;
    const char *occurred_at;
    int64_t occurred_ms;
    const char *recipient;
    const char *recipient_domain;
    const char *module;
    tk_other_domain other_domain_tried;
    const char *other_domain;
    const char *description;
    const char *additional_info;
    const char *reporter;
    const char *message_id;
    const char *assignee;
    int64_t created_ms, updated_ms, resolved_ms, closed_ms;
    tk_findings findings;
    tk_comment *comments; /* visible ones, oldest first (Get only) */
    int n_comments;
    int comment_count;
} tk_ticket;

/* "OPEN", "NOT_RECEIVED", ... ("?" when out of range). */
const char *tk_status_name(int status);
const char *tk_issue_name(int issue);
const char *tk_verdict_name(int verdict);
const char *tk_action_name(int action);

/* Writes "XD-000123" into out (at least 24 bytes). */
void tk_format_id(int64_t id, char *out, unsigned out_size);

/* Parses "XD-000123" (case-insensitive prefix, 1..12 digits, > 0); returns
 * the id, or 0 when text is not a ticket id. */
int64_t tk_parse_id(const char *text);

#endif
