/*
 * test_dkim_keys.c: the DKIM key store on a real SQLite file: generation
 * and TXT records, bounds, idempotency, two-step rotation, org isolation,
 * sealing at rest (no private key in the file; wrong master key refused),
 * the 0600 master key file; and the RPC surface through the real xd-sender
 * process (replies carry records, never private keys).
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dkim_keys.h"
#include "mime_encode.h"
#include "sender.pb-c.h"
#include "test_util.h"
#include "xd/rpc_client.h"

typedef struct fx {
    char dir[512], db[600];
    unsigned char master[32];
    xd_clock *clock;
    snd_keystore *ks;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(tu_tempdir(f->dir, sizeof f->dir), 0);
    snprintf(f->db, sizeof f->db, "%s/sender.db", f->dir);
    memset(f->master, 0x5a, 32);
    f->clock = xd_clock_manual_new(1795000000000LL);
    xd_err err;
    assert_int_equal(snd_keystore_open(f->db, f->master, f->clock, &f->ks, &err), XD_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    snd_keystore_close(f->ks);
    xd_clock_free(f->clock);
    tu_rmdir(f->dir);
    free(f);
    return 0;
}

/* The public key in a TXT record verifies a signature by the private key. */
static void check_pair(const snd_dkim_key_info *k, EVP_PKEY *priv)
{
    const char *p = strstr(k->txt, "; p=");
    assert_non_null(p);
    unsigned char der[1024];
    long n = snd_base64_decode(p + 4, strlen(p + 4), der, sizeof der);
    assert_true(n > 0);
    EVP_PKEY *pub;
    if (k->alg == SND_DKIM_ED25519_SHA256) {
        assert_int_equal(n, 32);
        pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32);
    } else {
        const unsigned char *q = der;
        pub = d2i_PUBKEY(NULL, &q, n);
    }
    assert_non_null(pub);
    unsigned char digest[32] = {1, 2, 3}, sig[1024];
    int len = snd_dkim_raw_sign(k->alg, priv, digest, sig, sizeof sig);
    assert_true(len > 0);
    int ok;
    if (k->alg == SND_DKIM_ED25519_SHA256) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
             EVP_DigestVerify(md, sig, (size_t)len, digest, 32) == 1;
        EVP_MD_CTX_free(md);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
        ok = EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
             EVP_PKEY_verify(c, sig, (size_t)len, digest, 32) == 1;
        EVP_PKEY_CTX_free(c);
    }
    assert_true(ok);
    EVP_PKEY_free(pub);
}

static void test_create_and_records(void **state)
{
    fx *f = *state;
    xd_err err;
    snd_dkim_key_info rsa, ed, again;
    assert_int_equal(
        snd_dkim_create(f->ks, "org-a", "Mail.Example.ORG", "", SND_DKIM_RSA_SHA256, 0, &rsa, &err),
        XD_OK);
    assert_int_equal(rsa.bits, 2048);
    assert_int_equal(rsa.state, SND_KEY_ACTIVE);
    assert_string_equal(rsa.domain, "mail.example.org");
    assert_string_equal(rsa.selector, "xd20261118r");
    assert_int_equal(strncmp(rsa.txt, "v=DKIM1; k=rsa; p=MIIB", 22), 0);
    /* Chunks: each <= 255 octets, concatenated = the one-line value. */
    char chunks[SND_DKIM_MAX_CHUNKS][256];
    int n = snd_dkim_txt_split(rsa.txt, chunks, SND_DKIM_MAX_CHUNKS);
    assert_int_equal(n, 2);
    char joined[SND_DKIM_TXT_MAX] = "";
    for (int i = 0; i < n; i++) {
        assert_true(strlen(chunks[i]) <= 255);
        strcat(joined, chunks[i]);
    }
    assert_string_equal(joined, rsa.txt);
    assert_int_equal(snd_dkim_create(f->ks, "org-a", "mail.example.org", "ed",
                                     SND_DKIM_ED25519_SHA256, 0, &ed, &err),
                     XD_OK);
    assert_int_equal(ed.state, SND_KEY_ACTIVE); /* first of its algorithm */
    assert_int_equal(strncmp(ed.txt, "v=DKIM1; k=ed25519; p=", 22), 0);
    assert_int_equal(strlen(ed.txt), 22 + 44);
    /* Idempotent repeat; same selector for another algorithm is taken. */
    assert_int_equal(snd_dkim_create(f->ks, "org-a", "mail.example.org", "ed",
                                     SND_DKIM_ED25519_SHA256, 0, &again, &err),
                     XD_OK);
    assert_string_equal(again.key_id, ed.key_id);
    assert_int_equal(snd_dkim_create(f->ks, "org-a", "mail.example.org", "ed", SND_DKIM_RSA_SHA256,
                                     0, &again, &err),
                     XD_ALREADY_EXISTS);
    /* The records pair with the stored (sealed) private keys. */
    snd_dkim_key_info info[2];
    EVP_PKEY *keys[2];
    size_t count = 0;
    assert_int_equal(
        snd_dkim_load_active(f->ks, "org-a", "mail.example.org", info, keys, &count, &err), XD_OK);
    assert_int_equal(count, 2);
    assert_int_equal(info[0].alg, SND_DKIM_RSA_SHA256);
    for (size_t i = 0; i < count; i++) {
        check_pair(&info[i], keys[i]);
        EVP_PKEY_free(keys[i]);
    }
    /* IDN signing domains are stored as A-labels. */
    assert_int_equal(snd_dkim_create(f->ks, "org-a", "bücher.example", "s1",
                                     SND_DKIM_ED25519_SHA256, 0, &again, &err),
                     XD_OK);
    assert_string_equal(again.domain, "xn--bcher-kva.example");
}

static void test_bounds(void **state)
{
    fx *f = *state;
    xd_err err;
    snd_dkim_key_info k;
    int bad_bits[] = {512, 1000, 2047, 8192};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(snd_dkim_create(f->ks, "org-a", "example.org", "s", SND_DKIM_RSA_SHA256,
                                         bad_bits[i], &k, &err),
                         XD_INVALID_ARGUMENT);
        assert_string_equal(err.field, "bits");
    }
    assert_int_equal(
        snd_dkim_create(f->ks, "org-a", "example.org", "s", SND_DKIM_RSA_SHA256, 1024, &k, &err),
        XD_OK);
    const char *bad_sel[] = {"Upper", "-x", "a.b", "a_b", "x\r\ny"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(snd_dkim_create(f->ks, "org-a", "example.org", bad_sel[i],
                                         SND_DKIM_ED25519_SHA256, 0, &k, &err),
                         XD_INVALID_ARGUMENT);
        assert_string_equal(err.field, "selector");
    }
    const char *bad_dom[] = {"", "localhost", "a..b", "-a.example", "a b.example", "x\n.example"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(
            snd_dkim_create(f->ks, "org-a", bad_dom[i], "s2", SND_DKIM_ED25519_SHA256, 0, &k, &err),
            XD_INVALID_ARGUMENT);
        assert_string_equal(err.field, "domain");
    }
    assert_int_equal(
        snd_dkim_create(f->ks, "", "example.org", "s2", SND_DKIM_ED25519_SHA256, 0, &k, &err),
        XD_INVALID_ARGUMENT);
    assert_int_equal(
        snd_dkim_create(f->ks, "org-a", "example.org", "s2", SND_DKIM_ALG_NONE, 0, &k, &err),
        XD_INVALID_ARGUMENT);
}

static void test_rotation(void **state)
{
    fx *f = *state;
    xd_err err;
    snd_dkim_key_info old, act, pend, pend2, ret;
    assert_int_equal(snd_dkim_rotate_start(f->ks, "org-a", "example.org", SND_DKIM_ED25519_SHA256,
                                           "", 0, &act, &pend, &err),
                     XD_FAILED_PRECONDITION); /* nothing to rotate yet */
    assert_int_equal(snd_dkim_rotate_promote(f->ks, "org-a", "example.org", SND_DKIM_ED25519_SHA256,
                                             &act, &ret, &err),
                     XD_FAILED_PRECONDITION);
    assert_int_equal(snd_dkim_create(f->ks, "org-a", "example.org", "jan", SND_DKIM_ED25519_SHA256,
                                     0, &old, &err),
                     XD_OK);
    xd_clock_advance_ms(f->clock, 1000);
    assert_int_equal(snd_dkim_rotate_start(f->ks, "org-a", "example.org", SND_DKIM_ED25519_SHA256,
                                           "feb", 0, &act, &pend, &err),
                     XD_OK);
    assert_string_equal(act.key_id, old.key_id);
    assert_string_equal(pend.selector, "feb");
    assert_int_equal(pend.state, SND_KEY_PENDING);
    assert_string_not_equal(pend.txt, act.txt); /* both records to publish */
    /* START again: the same pending key; another selector: refused. */
    assert_int_equal(snd_dkim_rotate_start(f->ks, "org-a", "example.org", SND_DKIM_ED25519_SHA256,
                                           "", 0, &act, &pend2, &err),
                     XD_OK);
    assert_string_equal(pend2.key_id, pend.key_id);
    assert_int_equal(snd_dkim_rotate_start(f->ks, "org-a", "example.org", SND_DKIM_ED25519_SHA256,
                                           "mar", 0, &act, &pend2, &err),
                     XD_FAILED_PRECONDITION);
    /* Signing still uses the old key until the promotion. */
    snd_dkim_key_info info[2];
    EVP_PKEY *keys[2];
    size_t n;
    assert_int_equal(snd_dkim_load_active(f->ks, "org-a", "example.org", info, keys, &n, &err),
                     XD_OK);
    assert_int_equal(n, 1);
    assert_string_equal(info[0].selector, "jan");
    EVP_PKEY_free(keys[0]);
    xd_clock_advance_ms(f->clock, 1000);
    assert_int_equal(snd_dkim_rotate_promote(f->ks, "org-a", "example.org", SND_DKIM_ED25519_SHA256,
                                             &act, &ret, &err),
                     XD_OK);
    assert_string_equal(act.key_id, pend.key_id);
    assert_int_equal(act.state, SND_KEY_ACTIVE);
    assert_string_equal(ret.key_id, old.key_id);
    assert_int_equal(ret.state, SND_KEY_RETIRED);
    assert_int_equal(ret.retired_at_ms, 1795000002000LL);
    assert_int_equal(snd_dkim_load_active(f->ks, "org-a", "example.org", info, keys, &n, &err),
                     XD_OK);
    assert_string_equal(info[0].selector, "feb");
    EVP_PKEY_free(keys[0]);
    assert_int_equal(snd_dkim_rotate_promote(f->ks, "org-a", "example.org", SND_DKIM_ED25519_SHA256,
                                             &act, &ret, &err),
                     XD_FAILED_PRECONDITION);
    /* Listing: retired hidden unless asked. */
    snd_dkim_key_info *list;
    assert_int_equal(snd_dkim_list(f->ks, "org-a", "", 0, &list, &n, &err), XD_OK);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(snd_dkim_list(f->ks, "org-a", "example.org", 1, &list, &n, &err), XD_OK);
    assert_int_equal(n, 2);
    free(list);
}

static void test_isolation_and_sealing(void **state)
{
    fx *f = *state;
    xd_err err;
    snd_dkim_key_info k;
    assert_int_equal(
        snd_dkim_create(f->ks, "org-a", "example.org", "s", SND_DKIM_RSA_SHA256, 1024, &k, &err),
        XD_OK);
    snd_dkim_key_info *list;
    size_t n = 9;
    assert_int_equal(snd_dkim_list(f->ks, "org-b", "", 1, &list, &n, &err), XD_OK);
    assert_int_equal(n, 0);
    free(list);
    snd_dkim_key_info info[2];
    EVP_PKEY *keys[2];
    assert_int_equal(snd_dkim_load_active(f->ks, "org-b", "example.org", info, keys, &n, &err),
                     XD_OK);
    assert_int_equal(n, 0);
    /* No private key material in the database file (or its WAL). */
    char path[700];
    const char *suffix[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", f->db, suffix[i]);
        size_t len = 0;
        char *data = tu_read_file(path, &len);
        if (!data)
            continue;
        assert_null(memmem(data, len, "PRIVATE KEY", 11));
        assert_null(memmem(data, len, "MIIC", 4)); /* PKCS#8 RSA-1024 DER in base64 */
        free(data);
    }
    /* Another master key cannot unseal them. */
    snd_keystore_close(f->ks);
    unsigned char wrong[32];
    memset(wrong, 0x11, 32);
    assert_int_equal(snd_keystore_open(f->db, wrong, f->clock, &f->ks, &err), XD_OK);
    assert_int_equal(snd_dkim_load_active(f->ks, "org-a", "example.org", info, keys, &n, &err),
                     XD_DATA_LOSS);
    assert_null(strstr(err.message, "PRIVATE"));
}

static void test_master_key_file(void **state)
{
    fx *f = *state;
    char path[700];
    snprintf(path, sizeof path, "%s/dkim_master.key", f->dir);
    unsigned char a[32], b[32];
    xd_err err;
    assert_int_equal(snd_dkim_master_key("", path, a, &err), XD_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(snd_dkim_master_key(NULL, path, b, &err), XD_OK);
    assert_memory_equal(a, b, 32); /* stable across restarts */
    chmod(path, 0644);
    assert_int_equal(snd_dkim_master_key("", path, b, &err), XD_FAILED_PRECONDITION);
    assert_int_equal(snd_dkim_master_key("00112233", path, b, &err), XD_INVALID_ARGUMENT);
    assert_int_equal(
        snd_dkim_master_key("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                            path, b, &err),
        XD_OK);
    assert_int_equal(b[31], 0x1f);
}

/* ---- through the real process ---- */

static pid_t start_sender(const char *dir, const char *url)
{
    char bin[700];
    snprintf(bin, sizeof bin, "%s/services/sender/xd-sender",
             getenv("XD_BINARY_DIR") ? getenv("XD_BINARY_DIR") : ".");
    pid_t pid = fork();
    if (pid == 0) {
        setenv("XD_SENDER_LISTEN", url, 1);
        setenv("XD_SENDER_DATA_DIR", dir, 1);
        setenv("XD_SENDER_LOG_LEVEL", "warn", 1);
        setenv("XD_SENDER_DELIVERY_ROUTE", "test_capture", 1);
        setenv("XD_SENDER_DELIVERY_ALLOW_CAPTURE", "true", 1);
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_rpc(void **state)
{
    fx *f = *state;
    char url[700];
    snprintf(url, sizeof url, "ipc://%s/sender.sock", f->dir);
    pid_t pid = start_sender(f->dir, url);
    assert_true(pid > 0);
    xd_client *c = NULL;
    xd_err err;
    assert_int_equal(xd_client_open(url, "sender", NULL, &c, &err), XD_OK);
    xd_arena *arena = xd_arena_new();
    Xd__CreateDkimKeyRequest req = XD__CREATE_DKIM_KEY_REQUEST__INIT;
    req.org_id = "org-r";
    req.domain = "rpc.example.org";
    req.selector = "r1";
    req.algorithm = XD__DKIM_ALGORITHM__DKIM_ALGORITHM_RSA_SHA256;
    req.bits = 2048;
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = "org-r";
    xd_call_options co = {.caller = &caller, .timeout_ms = 30000};
    ProtobufCMessage *rep = NULL;
    xd_code rc = XD_UNAVAILABLE;
    for (int i = 0; i < 50 && rc == XD_UNAVAILABLE; i++) {
        rc = xd_client_call(c, &co, "CreateDkimKey", &req.base,
                            &xd__create_dkim_key_reply__descriptor, arena, &rep, &err);
        if (rc == XD_UNAVAILABLE || rc == XD_DEADLINE_EXCEEDED)
            usleep(100000), rc = XD_UNAVAILABLE;
    }
    assert_int_equal(rc, XD_OK);
    Xd__DkimKey *k = ((Xd__CreateDkimKeyReply *)rep)->key;
    assert_string_equal(k->record->name, "r1._domainkey.rpc.example.org");
    assert_int_equal(k->record->n_chunks, 2);
    assert_true(strlen(k->record->chunks[0]) == 255);
    assert_non_null(
        strstr(k->record->zone_line, "r1._domainkey.rpc.example.org. IN TXT \"v=DKIM1"));
    /* The whole reply, packed, carries no private key. */
    size_t sz = protobuf_c_message_get_packed_size(rep);
    unsigned char *packed = malloc(sz);
    protobuf_c_message_pack(rep, packed);
    assert_null(memmem(packed, sz, "PRIVATE", 7));
    free(packed);
    /* Another organization cannot act for org-r. */
    caller.org_id = "org-x";
    rc = xd_client_call(c, &co, "CreateDkimKey", &req.base, &xd__create_dkim_key_reply__descriptor,
                        arena, &rep, &err);
    assert_int_equal(rc, XD_PERMISSION_DENIED);
    caller.org_id = "org-r";
    /* Rotation through RPC: both records shown. */
    Xd__RotateDkimKeyRequest rr = XD__ROTATE_DKIM_KEY_REQUEST__INIT;
    rr.org_id = "org-r";
    rr.domain = "rpc.example.org";
    rr.algorithm = XD__DKIM_ALGORITHM__DKIM_ALGORITHM_RSA_SHA256;
    rr.step = XD__ROTATE_STEP__ROTATE_STEP_START;
    rr.new_selector = "r2";
    assert_int_equal(xd_client_call(c, &co, "RotateDkimKey", &rr.base,
                                    &xd__rotate_dkim_key_reply__descriptor, arena, &rep, &err),
                     XD_OK);
    Xd__RotateDkimKeyReply *rot = (Xd__RotateDkimKeyReply *)rep;
    assert_string_equal(rot->active->selector, "r1");
    assert_string_equal(rot->pending->selector, "r2");
    assert_int_equal(rot->pending->state, XD__DKIM_KEY_STATE__DKIM_KEY_STATE_PENDING);
    rr.step = XD__ROTATE_STEP__ROTATE_STEP_UNSPECIFIED;
    assert_int_equal(xd_client_call(c, &co, "RotateDkimKey", &rr.base,
                                    &xd__rotate_dkim_key_reply__descriptor, arena, &rep, &err),
                     XD_INVALID_ARGUMENT);
    Xd__ListDkimKeysRequest lr = XD__LIST_DKIM_KEYS_REQUEST__INIT;
    lr.org_id = "org-r";
    assert_int_equal(xd_client_call(c, &co, "ListDkimKeys", &lr.base,
                                    &xd__list_dkim_keys_reply__descriptor, arena, &rep, &err),
                     XD_OK);
    assert_int_equal(((Xd__ListDkimKeysReply *)rep)->n_keys, 2);
    /* Submit is built: an empty message is refused with the field named. */
    Xd__SubmitRequest sr = XD__SUBMIT_REQUEST__INIT;
    sr.org_id = "org-r";
    assert_int_equal(xd_client_call(c, &co, "Submit", &sr.base, &xd__submit_reply__descriptor,
                                    arena, &rep, &err),
                     XD_INVALID_ARGUMENT);
    xd_arena_free(arena);
    xd_client_close(c);
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The process made its master key file 0600. */
    char path[700];
    snprintf(path, sizeof path, "%s/dkim_master.key", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolation_and_sealing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpc, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
