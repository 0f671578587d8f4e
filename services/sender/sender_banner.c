/* sender_banner.c: banner storage and per-message snapshots (see
 * sender_banner.h). */
#include "sender_banner.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime_encode.h"
#include "queue_internal.h"
#include "sender_schema.h"
#include "xd/db.h"
#include "xd/util.h"

/* More would make ListBanners' reply too large to be useful. */
#define MAX_BANNERS_PER_ORG 64

static int valid_module(const char *m)
{
    size_t n = strlen(m);
    if (n > SND_MAX_MODULE)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = m[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static xd_code check_utf8(const char *field, const char *s, size_t max, xd_err *err)
{
    size_t n = strlen(s);
    if (n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is %zu octets; at most %zu", field,
                            n, max);
    if (!snd_is_valid_utf8(s, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is not valid UTF-8", field);
    return XD_OK;
}

xd_code snd_banner_validate(const snd_banner_in *b, int remove, xd_err *err)
{
    const char *org = b->org_id ? b->org_id : "";
    if (!org[0] || strlen(org) > SND_MAX_ORG_ID || xd_has_crlf_nul(org, strlen(org)))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.org_id",
                            "banner.org_id must be 1-%d octets without CR or LF", SND_MAX_ORG_ID);
    if (!valid_module(b->module ? b->module : ""))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.module",
                            "banner.module must be empty (every module) or 1-%d octets of a-z, "
                            "0-9, '.', '_' and '-'",
                            SND_MAX_MODULE);
    if (remove)
        return XD_OK;
    const char *html = b->html ? b->html : "", *text = b->text ? b->text : "";
    const char *type = b->image_type ? b->image_type : "", *alt = b->image_alt ? b->image_alt : "";
    xd_code rc = check_utf8("banner.html", html, SND_BANNER_MAX_HTML, err);
    if (rc == XD_OK)
        rc = check_utf8("banner.text", text, SND_BANNER_MAX_TEXT, err);
    if (rc != XD_OK)
        return rc;
    if (b->image_len > SND_BANNER_MAX_IMAGE)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.image",
                            "banner.image is %zu octets; at most %u", b->image_len,
                            SND_BANNER_MAX_IMAGE);
    if (b->image_len == 0) {
        if (type[0] || alt[0])
            return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.image",
                                "banner.image is empty but image_content_type or image_alt is "
                                "set: give the image or drop both");
        if (snd_banner_cid_ref(html))
            return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.html",
                                "banner.html references cid:banner but there is no image");
        if (!html[0] && !text[0])
            return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.html",
                                "the banner is empty: give banner.html, banner.text or "
                                "banner.image (or set remove to delete it)");
        return XD_OK;
    }
    if (!snd_valid_mime_type(type, 1))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.image_content_type",
                            "banner.image_content_type \"%.100s\" is not an image type (image/...)",
                            type);
    if (!alt[0])
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.image_alt",
                            "banner.image_alt is required with an image");
    if (xd_has_crlf_nul(alt, strlen(alt)))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.image_alt",
                            "banner.image_alt must not contain CR or LF");
    return check_utf8("banner.image_alt", alt, SND_BANNER_MAX_ALT, err);
}

/* SHA-256 over the length-prefixed fields: equal content, equal id. */
static void content_id(const snd_banner_in *b, char out[SND_BANNER_ID_LEN + 1])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[32];
    unsigned len = 0;
    const void *parts[5] = {b->html ? b->html : "", b->text ? b->text : "",
                            b->image ? b->image : "", b->image_type ? b->image_type : "",
                            b->image_alt ? b->image_alt : ""};
    size_t lens[5] = {strlen(parts[0]), strlen(parts[1]), b->image ? b->image_len : 0,
                      strlen(parts[3]), strlen(parts[4])};
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (int i = 0; i < 5; i++) {
        uint64_t n = lens[i];
        EVP_DigestUpdate(md, &n, sizeof n);
        EVP_DigestUpdate(md, parts[i], lens[i]);
    }
    EVP_DigestFinal_ex(md, digest, &len);
    EVP_MD_CTX_free(md);
    xd_hex_encode(digest, 32, out);
    out[SND_BANNER_ID_LEN] = '\0';
}

struct snd_banner_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    const xd_clock *clock;
};

xd_code snd_banner_store_open(const char *path, const xd_clock *clock, snd_banner_store **out,
                              xd_err *err)
{
    snd_banner_store *b = calloc(1, sizeof *b);
    if (!b)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    xd_code rc =
        xd_db_open(path, snd_schema_migrations, snd_schema_n_migrations, NULL, &b->db, err);
    if (rc != XD_OK) {
        free(b);
        return rc;
    }
    pthread_mutex_init(&b->mu, NULL);
    b->clock = clock ? clock : xd_clock_system();
    *out = b;
    return XD_OK;
}

void snd_banner_store_close(snd_banner_store *b)
{
    if (!b)
        return;
    xd_db_close(b->db);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* Runs one statement with up to 3 text parameters. Lock held. */
static xd_code exec3(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c,
                     const char *what, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(db, sql, &st, err);
    if (rc != XD_OK)
        return rc;
    const char *params[3] = {a, b, c};
    for (int i = 0; i < 3 && params[i]; i++)
        xd_db_bind_text(st, i + 1, params[i]);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE || s == SQLITE_ROW ? XD_OK : xd_db_fail(db, s, what, err);
}

/* The content id (org, module) points at into id; 0 when none. Lock held. */
static int current_id(sqlite3 *db, const char *org, const char *module, char *id)
{
    sqlite3_stmt *st = NULL;
    if (xd_db_prepare(db, "SELECT banner_id FROM banners WHERE org_id = ?1 AND module = ?2", &st,
                      NULL) != XD_OK)
        return 0;
    xd_db_bind_text(st, 1, org);
    xd_db_bind_text(st, 2, module);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snd_col_copy(st, 0, id, SND_BANNER_ID_LEN + 1);
    sqlite3_finalize(st);
    return found;
}

/* Deletes content nothing points at any more. Lock and tx held. */
static xd_code drop_if_unused(sqlite3 *db, const char *id, xd_err *err)
{
    return exec3(db,
                 "DELETE FROM banner_contents WHERE banner_id = ?1 AND NOT EXISTS (SELECT 1 FROM "
                 "banners WHERE banner_id = ?1) AND NOT EXISTS (SELECT 1 FROM message_banners "
                 "WHERE banner_id = ?1)",
                 id, NULL, NULL, "deleting unused banner content", err);
}

static xd_code count_banners(sqlite3 *db, const char *org, int *n, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(db, "SELECT count(*) FROM banners WHERE org_id = ?1", &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, org);
    int s = sqlite3_step(st);
    *n = s == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return s == SQLITE_ROW ? XD_OK : xd_db_fail(db, s, "counting banners", err);
}

static xd_code insert_content(sqlite3 *db, const snd_banner_in *b, const char *id, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(db,
                               "INSERT OR IGNORE INTO banner_contents (banner_id, html, text, "
                               "image, image_type, image_alt) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                               &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, id);
    xd_db_bind_text(st, 2, b->html ? b->html : "");
    xd_db_bind_text(st, 3, b->text ? b->text : "");
    sqlite3_bind_blob(st, 4, b->image_len ? b->image : "", (int)b->image_len, SQLITE_STATIC);
    xd_db_bind_text(st, 5, b->image_len && b->image_type ? b->image_type : "");
    xd_db_bind_text(st, 6, b->image_len && b->image_alt ? b->image_alt : "");
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? XD_OK : xd_db_fail(db, s, "storing the banner", err);
}

static xd_code point_at(sqlite3 *db, const char *org, const char *module, const char *id,
                        int64_t now, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(
        db,
        "INSERT INTO banners (org_id, module, banner_id, updated_at_ms) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (org_id, module) DO UPDATE SET banner_id = excluded.banner_id, "
        "updated_at_ms = excluded.updated_at_ms WHERE banner_id <> excluded.banner_id",
        &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, org);
    xd_db_bind_text(st, 2, module);
    xd_db_bind_text(st, 3, id);
    sqlite3_bind_int64(st, 4, now);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? XD_OK : xd_db_fail(db, s, "storing the banner", err);
}

static char *dup_col(sqlite3_stmt *st, int col)
{
    const char *s = xd_db_column_text(st, col);
    return strdup(s ? s : "");
}

/* Row of: org_id, module, banner_id, updated_at_ms, html, text,
 * length(image), image_type, image_alt [, image]. */
static int read_row(sqlite3_stmt *st, snd_banner_data *b, int with_image)
{
    memset(b, 0, sizeof *b);
    snd_col_copy(st, 0, b->org_id, sizeof b->org_id);
    snd_col_copy(st, 1, b->module, sizeof b->module);
    snd_col_copy(st, 2, b->banner_id, sizeof b->banner_id);
    b->updated_at_ms = sqlite3_column_int64(st, 3);
    b->html = dup_col(st, 4);
    b->text = dup_col(st, 5);
    b->image_len = (size_t)sqlite3_column_int64(st, 6);
    snd_col_copy(st, 7, b->image_type, sizeof b->image_type);
    snd_col_copy(st, 8, b->image_alt, sizeof b->image_alt);
    if (with_image && b->image_len) {
        b->image = malloc(b->image_len);
        if (b->image)
            memcpy(b->image, sqlite3_column_blob(st, 9), b->image_len);
    }
    return b->html && b->text && (!with_image || !b->image_len || b->image) ? 0 : -1;
}

#define ROW_COLS                                                                                   \
    "b.org_id, b.module, b.banner_id, b.updated_at_ms, c.html, c.text, length(c.image), "          \
    "c.image_type, c.image_alt"

static xd_code read_one(sqlite3 *db, const char *org, const char *module, snd_banner_data *out,
                        xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(db,
                               "SELECT " ROW_COLS " FROM banners b JOIN banner_contents c USING "
                               "(banner_id) WHERE b.org_id = ?1 AND b.module = ?2",
                               &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, org);
    xd_db_bind_text(st, 2, module);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        if (read_row(st, out, 0) != 0)
            rc = xd_err_set(err, XD_INTERNAL, "out of memory");
    } else {
        rc = xd_db_fail(db, s == SQLITE_DONE ? SQLITE_INTERNAL : s, "reading the banner", err);
    }
    sqlite3_finalize(st);
    return rc;
}

xd_code snd_banner_set(snd_banner_store *bs, const snd_banner_in *b, snd_banner_data *out,
                       xd_err *err)
{
    memset(out, 0, sizeof *out);
    xd_code rc = snd_banner_validate(b, 0, err);
    if (rc != XD_OK)
        return rc;
    const char *module = b->module ? b->module : "";
    char id[SND_BANNER_ID_LEN + 1], old[SND_BANNER_ID_LEN + 1];
    content_id(b, id);
    sqlite3 *db = bs->db;
    pthread_mutex_lock(&bs->mu);
    int64_t now = xd_clock_now_ms(bs->clock);
    rc = xd_db_begin(db, err);
    int had = rc == XD_OK && current_id(db, b->org_id, module, old);
    if (rc == XD_OK && !had) {
        int n = 0;
        rc = count_banners(db, b->org_id, &n, err);
        if (rc == XD_OK && n >= MAX_BANNERS_PER_ORG)
            rc = xd_err_field(err, XD_RESOURCE_EXHAUSTED, "banner.module",
                              "the organization has %d banners, the most allowed: remove one "
                              "first",
                              n);
    }
    if (rc == XD_OK)
        rc = insert_content(db, b, id, err);
    if (rc == XD_OK)
        rc = point_at(db, b->org_id, module, id, now, err);
    if (rc == XD_OK && had && strcmp(old, id) != 0)
        rc = drop_if_unused(db, old, err);
    if (rc == XD_OK)
        rc = xd_db_commit(db, err);
    else
        xd_db_rollback(db);
    if (rc == XD_OK)
        rc = read_one(db, b->org_id, module, out, err);
    pthread_mutex_unlock(&bs->mu);
    if (rc != XD_OK)
        snd_banner_data_free(out);
    return rc;
}

xd_code snd_banner_remove(snd_banner_store *bs, const char *org_id, const char *module,
                          int *changed, xd_err *err)
{
    *changed = 0;
    char old[SND_BANNER_ID_LEN + 1];
    sqlite3 *db = bs->db;
    pthread_mutex_lock(&bs->mu);
    xd_code rc = xd_db_begin(db, err);
    if (rc == XD_OK && current_id(db, org_id, module, old)) {
        rc = exec3(db, "DELETE FROM banners WHERE org_id = ?1 AND module = ?2", org_id, module,
                   NULL, "removing the banner", err);
        if (rc == XD_OK)
            rc = drop_if_unused(db, old, err);
        *changed = rc == XD_OK;
    }
    if (rc == XD_OK)
        rc = xd_db_commit(db, err);
    else
        xd_db_rollback(db);
    pthread_mutex_unlock(&bs->mu);
    if (rc != XD_OK)
        *changed = 0;
    return rc;
}

xd_code snd_banner_list(snd_banner_store *bs, const char *org_id, snd_banner_data **out, size_t *n,
                        xd_err *err)
{
    *out = NULL;
    *n = 0;
    snd_banner_data *list = calloc(MAX_BANNERS_PER_ORG, sizeof *list);
    if (!list)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    pthread_mutex_lock(&bs->mu);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(bs->db,
                               "SELECT " ROW_COLS " FROM banners b JOIN banner_contents c USING "
                               "(banner_id) WHERE b.org_id = ?1 ORDER BY b.module LIMIT ?2",
                               &st, err);
    size_t k = 0;
    if (rc == XD_OK) {
        xd_db_bind_text(st, 1, org_id);
        sqlite3_bind_int(st, 2, MAX_BANNERS_PER_ORG);
        int s;
        while (rc == XD_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if (read_row(st, &list[k++], 0) != 0)
                rc = xd_err_set(err, XD_INTERNAL, "out of memory");
        }
        if (rc == XD_OK && s != SQLITE_DONE)
            rc = xd_db_fail(bs->db, s, "listing banners", err);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&bs->mu);
    if (rc != XD_OK) {
        snd_banner_list_free(list, k);
        return rc;
    }
    *out = list;
    *n = k;
    return XD_OK;
}

void snd_banner_data_free(snd_banner_data *b)
{
    if (!b)
        return;
    free(b->html);
    free(b->text);
    free(b->image);
    b->html = b->text = NULL;
    b->image = NULL;
}

void snd_banner_list_free(snd_banner_data *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        snd_banner_data_free(&list[i]);
    free(list);
}

xd_code snd_banner_snapshot(snd_queue *q, const char *org_id, const char *module,
                            const char *message_id, const char *copy_of, xd_err *err)
{
    if (copy_of && copy_of[0])
        return exec3(q->db,
                     "INSERT INTO message_banners (message_id, banner_id) SELECT ?1, banner_id "
                     "FROM message_banners WHERE message_id = ?2",
                     message_id, copy_of, NULL, "recording the message's banner", err);
    /* A module's own banner sorts after the organization's "" one. */
    return exec3(q->db,
                 "INSERT INTO message_banners (message_id, banner_id) SELECT ?1, banner_id FROM "
                 "banners WHERE org_id = ?2 AND module IN (?3, '') ORDER BY module DESC LIMIT 1",
                 message_id, org_id, module ? module : "", "recording the message's banner", err);
}

xd_code snd_banner_for_message(snd_queue *q, const char *message_id, snd_banner_data *out,
                               int *found, xd_err *err)
{
    memset(out, 0, sizeof *out);
    *found = 0;
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(q->db,
                               "SELECT '', '', c.banner_id, 0, c.html, c.text, length(c.image), "
                               "c.image_type, c.image_alt, c.image FROM message_banners m JOIN "
                               "banner_contents c USING (banner_id) WHERE m.message_id = ?1",
                               &st, err);
    if (rc == XD_OK) {
        xd_db_bind_text(st, 1, message_id);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            if (read_row(st, out, 1) != 0)
                rc = xd_err_set(err, XD_INTERNAL, "out of memory");
            else
                *found = 1;
        } else if (s != SQLITE_DONE) {
            rc = xd_db_fail(q->db, s, "reading the message's banner", err);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&q->mu);
    if (rc != XD_OK)
        snd_banner_data_free(out);
    return rc;
}

xd_code snd_banner_attach(snd_queue *q, const char *message_id, xd_arena *arena, snd_message *m,
                          xd_err *err)
{
    snd_banner_data b;
    int found = 0;
    xd_code rc = snd_banner_for_message(q, message_id, &b, &found, err);
    if (rc != XD_OK || !found)
        return rc;
    snd_banner *out = xd_arena_alloc(arena, sizeof *out);
    memset(out, 0, sizeof *out);
    out->html = b.html[0] ? xd_arena_strdup(arena, b.html) : NULL;
    out->text = b.text[0] ? xd_arena_strdup(arena, b.text) : NULL;
    if (b.image_len) {
        void *img = xd_arena_alloc(arena, b.image_len);
        memcpy(img, b.image, b.image_len);
        out->image = img;
        out->image_len = b.image_len;
        out->image_type = xd_arena_strdup(arena, b.image_type);
        out->image_alt = xd_arena_strdup(arena, b.image_alt);
    }
    m->banner = out;
    snd_banner_data_free(&b);
    return XD_OK;
}
