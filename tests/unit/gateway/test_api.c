/* test_api.c: the gateway's methods through gw_api_dispatch with a real
 * store: authentication, the role x method table, organization isolation,
 * suspension, idempotency of SendEmail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_api.h"
#include "gw_perm.h"

typedef struct fixture {
    char dir[256];
    xd_clock *clock;
    gw_ctx ctx;
    char operator_key[GW_KEY_TEXT_MAX];
    gw_org a, b;
    char admin_a[GW_KEY_TEXT_MAX], admin_b[GW_KEY_TEXT_MAX];
    char module_a[GW_KEY_TEXT_MAX], support_a[GW_KEY_TEXT_MAX];
    gw_api_key admin_b_key, module_a_key;
} fixture;

static int sends; /* executions of the fake downstream part of SendEmail */

typedef struct result {
    xd_code code;
    xd_err err;
    ProtobufCMessage *out;
} result;

/* Calls method with the JSON-free way a transport would: in message, key. */
static result call(fixture *f, xd_arena *a, const char *method, const char *key,
                   const ProtobufCMessage *in)
{
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&xd__gateway__descriptor, method);
    assert_non_null(md);
    ProtobufCMessage *empty = NULL;
    if (!in) {
        empty = xd_arena_message(a, md->input);
        in = empty;
    }
    result r = {.out = xd_arena_message(a, md->output)};
    xd_err_clear(&r.err);
    gw_req req = {.arena = a, .method = md->name, .credential = key, .request_id = "t"};
    r.code = gw_api_dispatch(&f->ctx, &req, in, r.out, &r.err);
    return r;
}

static void make_key(fixture *f, const char *org, int role, char *text, gw_api_key *out)
{
    gw_api_key k;
    xd_err err;
    assert_int_equal(gw_store_create_key(f->ctx.store, org, role, "", "test", out ? out : &k, text,
                                         GW_KEY_TEXT_MAX, &err),
                     XD_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/xd-gw-api-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char db[300], pepper[300];
    snprintf(db, sizeof(db), "%s/gateway.db", f->dir);
    snprintf(pepper, sizeof(pepper), "%s/gateway.pepper", f->dir);
    f->clock = xd_clock_manual_new(1800000000000LL);
    f->ctx.clock = f->clock;
    f->ctx.idem_ttl_ms = 3600000;
    f->ctx.started_ms = xd_monotonic_ms();
    xd_err err;
    assert_int_equal(gw_store_open(db, pepper, f->clock, &f->ctx.store, &err), XD_OK);
    gw_api_key op;
    assert_int_equal(gw_store_bootstrap_operator(f->ctx.store, "t", &op, f->operator_key,
                                                 sizeof(f->operator_key), &err),
                     XD_OK);
    assert_int_equal(gw_store_create_org(f->ctx.store, "Org A", 0, &f->a, &err), XD_OK);
    assert_int_equal(gw_store_create_org(f->ctx.store, "Org B", 0, &f->b, &err), XD_OK);
    make_key(f, f->a.id, XD__ROLE__ROLE_ADMIN, f->admin_a, NULL);
    make_key(f, f->b.id, XD__ROLE__ROLE_ADMIN, f->admin_b, &f->admin_b_key);
    make_key(f, f->a.id, XD__ROLE__ROLE_MODULE, f->module_a, &f->module_a_key);
    make_key(f, f->a.id, XD__ROLE__ROLE_SUPPORT, f->support_a, NULL);
    sends = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_store_close(f->ctx.store);
    xd_clock_free(f->clock);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc;
}

static void test_authentication(void **state)
{
    fixture *f = *state;
    xd_arena *a = xd_arena_new();
    const ProtobufCServiceDescriptor *d = &xd__gateway__descriptor;
    char revoked[GW_KEY_TEXT_MAX];
    gw_api_key rk;
    make_key(f, f->a.id, XD__ROLE__ROLE_ADMIN, revoked, &rk);
    xd_err err;
    assert_int_equal(gw_store_revoke_key(f->ctx.store, rk.id, &rk, &err), XD_OK);
    char wrong[GW_KEY_TEXT_MAX];
    memcpy(wrong, f->operator_key, sizeof(wrong));
    wrong[GW_KEY_TEXT_MAX - 2] ^= 1; /* '0'<->'1', 'a'<->'`': still wrong either way */
    for (unsigned i = 0; i < d->n_methods; i++) {
        const char *m = d->methods[i].name;
        if (strcmp(m, "Health") == 0) {
            assert_int_equal(call(f, a, m, NULL, NULL).code, XD_OK);
            continue;
        }
        const char *keys[] = {NULL, "", "Bearer nonsense", wrong, revoked};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            result r = call(f, a, m, keys[k], NULL);
            if (r.code != XD_UNAUTHENTICATED)
                fail_msg("%s with key #%zu: %s (%s)", m, k, xd_code_name(r.code), r.err.message);
        }
    }
    result r = call(f, a, "WhoAmI", revoked, NULL);
    assert_non_null(strstr(r.err.message, "revoked"));
    xd_arena_free(a);
}

static void test_role_table(void **state)
{
    fixture *f = *state;
    xd_arena *a = xd_arena_new();
    const ProtobufCServiceDescriptor *d = &xd__gateway__descriptor;
    struct {
        int role;
        const char *key;
    } who[] = {{XD__ROLE__ROLE_MODULE, f->module_a},
               {XD__ROLE__ROLE_SUPPORT, f->support_a},
               {XD__ROLE__ROLE_ADMIN, f->admin_a},
               {XD__ROLE__ROLE_OPERATOR, f->operator_key}};
    for (unsigned i = 0; i < d->n_methods; i++) {
        const char *m = d->methods[i].name;
        if (gw_perm_public(m))
            continue;
        for (size_t w = 0; w < 4; w++) {
            result r = call(f, a, m, who[w].key, NULL);
            int allowed = gw_perm_allowed(m, who[w].role);
            if (allowed && (r.code == XD_PERMISSION_DENIED || r.code == XD_UNAUTHENTICATED))
                fail_msg("%s as %s: %s", m, gw_role_name(who[w].role), r.err.message);
            if (!allowed && r.code != XD_PERMISSION_DENIED)
                fail_msg("%s as %s should be PERMISSION_DENIED, got %s", m,
                         gw_role_name(who[w].role), xd_code_name(r.code));
        }
    }
    /* The table says what issue 8 says. */
    assert_false(gw_perm_allowed("CreateApiKey", XD__ROLE__ROLE_MODULE));
    assert_false(gw_perm_allowed("SendEmail", XD__ROLE__ROLE_SUPPORT));
    assert_false(gw_perm_allowed("CreateOrganization", XD__ROLE__ROLE_ADMIN));
    assert_false(gw_perm_allowed("DiagnoseDelivery", XD__ROLE__ROLE_MODULE));
    assert_true(gw_perm_allowed("SendEmail", XD__ROLE__ROLE_MODULE));
    assert_true(gw_perm_allowed("CreateSupportTicket", XD__ROLE__ROLE_SUPPORT));
    assert_true(gw_perm_allowed("SetSmtpRelay", XD__ROLE__ROLE_ADMIN));
    assert_false(gw_perm_allowed("NotAMethod", XD__ROLE__ROLE_OPERATOR)); /* fails closed */
    result r = call(f, a, "CreateOrganization", f->module_a, NULL);
    assert_non_null(strstr(r.err.message, "operator"));
    xd_arena_free(a);
}

static void test_isolation(void **state)
{
    fixture *f = *state;
    xd_arena *a = xd_arena_new();
    Xd__ListApiKeysRequest lk = XD__LIST_API_KEYS_REQUEST__INIT;
    lk.org_id = f->b.id;
    assert_int_equal(call(f, a, "ListApiKeys", f->admin_a, &lk.base).code, XD_NOT_FOUND);
    Xd__RevokeApiKeyRequest rv = XD__REVOKE_API_KEY_REQUEST__INIT;
    rv.key_id = f->admin_b_key.id;
    result r = call(f, a, "RevokeApiKey", f->admin_a, &rv.base);
    assert_int_equal(r.code, XD_NOT_FOUND);
    assert_int_equal(call(f, a, "WhoAmI", f->admin_b, NULL).code, XD_OK); /* B's key lives */
    Xd__CreateApiKeyRequest ck = XD__CREATE_API_KEY_REQUEST__INIT;
    ck.org_id = f->b.id;
    ck.role = XD__ROLE__ROLE_ADMIN;
    assert_int_equal(call(f, a, "CreateApiKey", f->admin_a, &ck.base).code, XD_NOT_FOUND);
    Xd__GetOrganizationRequest go = XD__GET_ORGANIZATION_REQUEST__INIT;
    go.org_id = f->b.id;
    assert_int_equal(call(f, a, "GetOrganization", f->admin_a, &go.base).code, XD_NOT_FOUND);
    /* A missing organization and another one's look the same. */
    go.org_id = "org_ffffffffffffffff";
    assert_int_equal(call(f, a, "GetOrganization", f->admin_a, &go.base).code, XD_NOT_FOUND);
    Xd__SubmitRequest se = XD__SUBMIT_REQUEST__INIT;
    se.org_id = f->b.id;
    assert_int_equal(call(f, a, "SendEmail", f->module_a, &se.base).code, XD_NOT_FOUND);

    /* Own organization only. */
    r = call(f, a, "ListApiKeys", f->admin_a, NULL);
    assert_int_equal(r.code, XD_OK);
    Xd__ListApiKeysReply *keys = (Xd__ListApiKeysReply *)r.out;
    assert_int_equal(keys->n_keys, 3);
    for (size_t i = 0; i < keys->n_keys; i++)
        assert_string_equal(keys->keys[i]->org_id, f->a.id);
    /* An admin cannot mint operator keys; an operator acts across orgs. */
    ck.org_id = "";
    ck.role = XD__ROLE__ROLE_OPERATOR;
    assert_int_equal(call(f, a, "CreateApiKey", f->admin_a, &ck.base).code, XD_PERMISSION_DENIED);
    lk.org_id = f->b.id;
    r = call(f, a, "ListApiKeys", f->operator_key, &lk.base);
    assert_int_equal(r.code, XD_OK);
    assert_int_equal(((Xd__ListApiKeysReply *)r.out)->n_keys, 1);
    assert_int_equal(call(f, a, "RevokeApiKey", f->operator_key, &rv.base).code, XD_OK);
    assert_int_equal(call(f, a, "WhoAmI", f->admin_b, NULL).code, XD_UNAUTHENTICATED);
    xd_arena_free(a);
}

static void test_create_key_shows_secret_once(void **state)
{
    fixture *f = *state;
    xd_arena *a = xd_arena_new();
    Xd__CreateApiKeyRequest ck = XD__CREATE_API_KEY_REQUEST__INIT;
    ck.role = XD__ROLE__ROLE_MODULE;
    ck.label = "registration module";
    result r = call(f, a, "CreateApiKey", f->admin_a, &ck.base);
    assert_int_equal(r.code, XD_OK);
    Xd__CreateApiKeyReply *rep = (Xd__CreateApiKeyReply *)r.out;
    assert_string_equal(rep->key->org_id, f->a.id);
    r = call(f, a, "WhoAmI", rep->secret_key, NULL);
    assert_int_equal(r.code, XD_OK);
    assert_int_equal(((Xd__WhoAmIReply *)r.out)->role, XD__ROLE__ROLE_MODULE);
    ck.label = "bad\r\nX-Injected: 1";
    r = call(f, a, "CreateApiKey", f->admin_a, &ck.base);
    assert_int_equal(r.code, XD_INVALID_ARGUMENT);
    assert_string_equal(r.err.field, "label");
    Xd__CreateOrganizationRequest co = XD__CREATE_ORGANIZATION_REQUEST__INIT;
    co.name = "Evil\nOrg";
    r = call(f, a, "CreateOrganization", f->operator_key, &co.base);
    assert_int_equal(r.code, XD_INVALID_ARGUMENT);
    assert_string_equal(r.err.field, "name");
    xd_arena_free(a);
}

static xd_code fake_send(gw_ctx *ctx, gw_req *req, const char *org_id, const ProtobufCMessage *in,
                         ProtobufCMessage *out, xd_err *err)
{
    (void)ctx;
    (void)in;
    Xd__SendEmailReply *r = (Xd__SendEmailReply *)out;
    if (sends++ == 0 && strcmp(req->key.id, "") != 0 && getenv("XD_TEST_FIRST_SEND_FAILS"))
        return xd_err_set(err, XD_UNAVAILABLE, "sender is unavailable");
    r->message_id = xd_arena_printf(req->arena, "msg-%s-%d", org_id, sends);
    return XD_OK;
}

static void test_suspended_org(void **state)
{
    fixture *f = *state;
    xd_arena *a = xd_arena_new();
    Xd__SetOrganizationStatusRequest ss = XD__SET_ORGANIZATION_STATUS_REQUEST__INIT;
    ss.org_id = f->a.id;
    ss.status = XD__ORG_STATUS__ORG_STATUS_SUSPENDED;
    result r = call(f, a, "SetOrganizationStatus", f->operator_key, &ss.base);
    assert_int_equal(r.code, XD_INVALID_ARGUMENT); /* a suspension needs a reason */
    assert_string_equal(r.err.field, "reason");
    ss.reason = "complaint rate above 0.3% for 3 days";
    assert_int_equal(call(f, a, "SetOrganizationStatus", f->operator_key, &ss.base).code, XD_OK);
    r = call(f, a, "SendEmail", f->module_a, NULL);
    assert_int_equal(r.code, XD_FAILED_PRECONDITION);
    assert_non_null(strstr(r.err.message, "complaint rate above 0.3% for 3 days"));
    assert_non_null(strstr(r.err.message, "suspended"));
    /* Enabled again: past the status check, the message itself is checked. */
    ss.status = XD__ORG_STATUS__ORG_STATUS_ENABLED;
    assert_int_equal(call(f, a, "SetOrganizationStatus", f->operator_key, &ss.base).code, XD_OK);
    r = call(f, a, "SendEmail", f->module_a, NULL);
    assert_int_equal(r.code, XD_INVALID_ARGUMENT);
    assert_string_equal(r.err.field, "to");
    /* The operator organization cannot be switched off. */
    gw_api_key op;
    xd_err err;
    assert_int_equal(gw_store_authenticate(f->ctx.store, f->operator_key, &op, &err), XD_OK);
    ss.org_id = op.org_id;
    ss.status = XD__ORG_STATUS__ORG_STATUS_SUSPENDED;
    assert_int_equal(call(f, a, "SetOrganizationStatus", f->operator_key, &ss.base).code,
                     XD_FAILED_PRECONDITION);
    xd_arena_free(a);
}

static void test_idempotency(void **state)
{
    fixture *f = *state;
    f->ctx.send = fake_send;
    xd_arena *a = xd_arena_new();
    Xd__SubmitRequest se = XD__SUBMIT_REQUEST__INIT;
    se.idempotency_key = "order-42";
    result r1 = call(f, a, "SendEmail", f->module_a, &se.base);
    assert_int_equal(r1.code, XD_OK);
    Xd__SendEmailReply *rep1 = (Xd__SendEmailReply *)r1.out;
    assert_false(rep1->duplicate);
    result r2 = call(f, a, "SendEmail", f->module_a, &se.base);
    assert_int_equal(r2.code, XD_OK);
    Xd__SendEmailReply *rep2 = (Xd__SendEmailReply *)r2.out;
    assert_true(rep2->duplicate);
    assert_string_equal(rep2->message_id, rep1->message_id);
    assert_int_equal(sends, 1);
    /* Same key, different request: refused, saying so. */
    se.org_id = f->a.id; /* packs differently, same meaning for the gateway */
    result r3 = call(f, a, "SendEmail", f->module_a, &se.base);
    assert_int_equal(r3.code, XD_ALREADY_EXISTS);
    assert_non_null(strstr(r3.err.message, "different request"));
    assert_string_equal(r3.err.field, "idempotency_key");
    assert_int_equal(sends, 1);
    /* The operator may send for org A with the same key: that is org A's key. */
    se.org_id = f->b.id;
    result r4 = call(f, a, "SendEmail", f->operator_key, &se.base);
    assert_int_equal(r4.code, XD_OK); /* org B never used it */
    assert_int_equal(sends, 2);
    /* Without a key every call runs. */
    se.idempotency_key = "";
    se.org_id = "";
    call(f, a, "SendEmail", f->module_a, &se.base);
    call(f, a, "SendEmail", f->module_a, &se.base);
    assert_int_equal(sends, 4);
    se.idempotency_key = "has space";
    assert_int_equal(call(f, a, "SendEmail", f->module_a, &se.base).code, XD_INVALID_ARGUMENT);
    xd_arena_free(a);
}

static void test_failed_send_is_not_remembered(void **state)
{
    fixture *f = *state;
    f->ctx.send = fake_send;
    setenv("XD_TEST_FIRST_SEND_FAILS", "1", 1);
    xd_arena *a = xd_arena_new();
    Xd__SubmitRequest se = XD__SUBMIT_REQUEST__INIT;
    se.idempotency_key = "retry-me";
    assert_int_equal(call(f, a, "SendEmail", f->module_a, &se.base).code, XD_UNAVAILABLE);
    result r = call(f, a, "SendEmail", f->module_a, &se.base);
    assert_int_equal(r.code, XD_OK);
    assert_false(((Xd__SendEmailReply *)r.out)->duplicate);
    assert_int_equal(sends, 2);
    unsetenv("XD_TEST_FIRST_SEND_FAILS");
    xd_arena_free(a);
}

static void test_health(void **state)
{
    fixture *f = *state;
    xd_arena *a = xd_arena_new();
    result r = call(f, a, "Health", NULL, NULL);
    assert_int_equal(r.code, XD_OK);
    assert_string_equal(((Xd__HealthReply *)r.out)->service, "gateway");
    r = call(f, a, "SuiteHealth", f->module_a, NULL);
    assert_int_equal(r.code, XD_OK);
    Xd__SuiteHealthReply *h = (Xd__SuiteHealthReply *)r.out;
    assert_int_equal(h->n_services, 1); /* no backends in this test */
    assert_string_equal(h->services[0]->name, "gateway");
    xd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_authentication, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_key_shows_secret_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspended_org, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_send_is_not_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
