/* corpus_eval.c: see corpus_eval.h. */
#include "corpus_eval.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vf_bounce.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/* Splits a simple CSV line (no quoted commas in the columns we use). */
static int split_csv(char *line, char **cols, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        cols[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    char *nl = strpbrk(cols[n - 1], "\r\n");
    if (nl)
        *nl = '\0';
    return n;
}

static int parse_path(const char *path, vf_bounce *b)
{
    size_t len;
    char *raw = read_file(path, &len);
    if (!raw)
        return -1;
    int rc = vf_bounce_parse(raw, len, b);
    free(raw);
    return rc;
}

int corpus_eval_sisimai(const char *corpora, int verbose, corpus_figures *out)
{
    memset(out, 0, sizeof *out);
    char path[1024];
    snprintf(path, sizeof path, "%s/sisimai-set-of-emails/expectations.csv", corpora);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    vf_bounce *b = malloc(sizeof *b);
    char line[2048], last_file[256] = "";
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        free(b);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *c[12];
        if (split_csv(line, c, 12) < 9)
            continue;
        const char *file = c[0], *reason = c[3], *status = c[4];
        int position = atoi(c[1]);
        int hard = strcmp(c[6], "true") == 0;
        if (strcmp(file, last_file) != 0) {
            snprintf(path, sizeof path, "%s/sisimai-set-of-emails/maildir/bsd/%s", corpora, file);
            if (parse_path(path, b) != 0)
                b->n = 0, b->kind = VF_BOUNCE_NOT_BOUNCE;
            snprintf(last_file, sizeof last_file, "%s", file);
        }
        if (strcmp(reason, "feedback") == 0) {
            out->feedback_rows++;
            out->feedback_ok += b->kind == VF_BOUNCE_FEEDBACK;
            continue;
        }
        if (strcmp(reason, "vacation") == 0) {
            out->vacation_rows++;
            out->vacation_ok += b->kind == VF_BOUNCE_AUTO_REPLY;
            if (verbose && b->kind != VF_BOUNCE_AUTO_REPLY)
                printf("MISS %s vacation: kind %d\n", file, b->kind);
            continue;
        }
        out->rows++;
        if (position > b->n) {
            if (verbose)
                printf("MISS %s#%d %s: no recipient (kind %d, n %d)\n", file, position, reason,
                       b->kind, b->n);
            continue;
        }
        const vf_bounce_rcpt *r = &b->rcpts[position - 1];
        out->found++;
        int rok = strcmp(r->cls.reason, reason) == 0;
        out->reason_ok += rok;
        int cok = r->cls.category == vf_reason_category(reason);
        out->category_ok += cok;
        out->hard_ok += r->cls.hard == hard;
        if (status[0] && !strstr(status, ".9")) {
            out->status_rows++;
            out->status_ok += strcmp(r->status, status) == 0;
        }
        if (verbose && !cok)
            printf("MISS %s#%d want %s got %s (status %s/%s code %u) diag: %.160s\n", file,
                   position, reason, r->cls.reason, r->status, status, r->reply_code,
                   r->diagnostic);
    }
    fclose(f);
    /* Not bounces. */
    snprintf(path, sizeof path, "%s/sisimai-set-of-emails/expectations-not-bounce.csv", corpora);
    f = fopen(path, "r");
    if (f) {
        if (fgets(line, sizeof line, f)) {
            while (fgets(line, sizeof line, f)) {
                char *c[4];
                split_csv(line, c, 4);
                char p2[1024];
                snprintf(p2, sizeof p2, "%s/sisimai-set-of-emails/maildir/not/%s", corpora,
                         strrchr(c[0], '/') ? strrchr(c[0], '/') + 1 : c[0]);
                out->not_bounce_rows++;
                if (parse_path(p2, b) == 0 &&
                    (b->kind == VF_BOUNCE_NOT_BOUNCE || b->kind == VF_BOUNCE_AUTO_REPLY))
                    out->not_bounce_ok++;
                else if (verbose)
                    printf("MISS not-bounce %s: kind %d n %d\n", p2, b->kind, b->n);
            }
        }
        fclose(f);
    }
    /* Line endings: dos/ and mac/ copies must match bsd/. */
    static const char *const dirs[] = {"dos", "mac"};
    for (int d = 0; d < 2; d++) {
        snprintf(path, sizeof path, "%s/sisimai-set-of-emails/maildir/%s", corpora, dirs[d]);
        DIR *dir = opendir(path);
        struct dirent *de;
        while (dir && (de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char a[1400], bb[1400];
            snprintf(a, sizeof a, "%s/%s", path, de->d_name);
            snprintf(bb, sizeof bb, "%s/sisimai-set-of-emails/maildir/bsd/%s", corpora, de->d_name);
            vf_bounce *x = malloc(sizeof *x);
            out->eol_rows++;
            if (parse_path(a, b) == 0 && parse_path(bb, x) == 0 && b->n == x->n &&
                (b->n == 0 || (strcmp(b->rcpts[0].cls.reason, x->rcpts[0].cls.reason) == 0 &&
                               strcmp(b->rcpts[0].recipient, x->rcpts[0].recipient) == 0)))
                out->eol_ok++;
            else if (verbose)
                printf("MISS eol %s/%s\n", dirs[d], de->d_name);
            free(x);
        }
        if (dir)
            closedir(dir);
    }
    free(b);
    return 0;
}

int corpus_eval_kumo(const char *corpora, int verbose, kumo_figures *out)
{
    memset(out, 0, sizeof *out);
    char path[1024];
    snprintf(path, sizeof path, "%s/dsn-arf-kumomta/expectations-dsn.csv", corpora);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    vf_bounce *b = malloc(sizeof *b);
    char line[4096], last[256] = "";
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        free(b);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *c[8];
        if (split_csv(line, c, 8) < 7)
            continue;
        if (strcmp(c[0], last) != 0) {
            snprintf(path, sizeof path, "%s/dsn-arf-kumomta/%s", corpora, c[0]);
            if (parse_path(path, b) != 0)
                b->n = 0;
            snprintf(last, sizeof last, "%s", c[0]);
        }
        int idx = atoi(c[1]);
        out->rows++;
        const char *want = strchr(c[2], ';') ? strchr(c[2], ';') + 1 : c[2];
        if (idx > b->n || strcasecmp(b->rcpts[idx - 1].recipient, want) != 0) {
            if (verbose)
                printf("MISS kumo %s#%d recipient %s\n", c[0], idx, want);
            continue;
        }
        const vf_bounce_rcpt *r = &b->rcpts[idx - 1];
        out->found++;
        out->action_ok += strcmp(r->action, c[3]) == 0;
        out->status_ok += strcmp(r->status, c[4]) == 0;
        /* The diagnostic column holds "smtp; text" (may be cut by commas). */
        const char *d = strchr(c[5], ';') ? strchr(c[5], ';') + 2 : c[5];
        int dok = d[0] == '\0' || strstr(r->diagnostic, d) != NULL ||
                  strncmp(r->diagnostic, d, strlen(r->diagnostic)) == 0;
        out->diag_ok += dok;
        if (verbose && (!dok || strcmp(r->action, c[3]) || strcmp(r->status, c[4])))
            printf("MISS kumo %s#%d action %s/%s status %s/%s diag '%s' want '%s'\n", c[0], idx,
                   r->action, c[3], r->status, c[4], r->diagnostic, d);
    }
    fclose(f);
    free(b);
    return 0;
}
