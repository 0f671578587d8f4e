/* test_json.c: the proto3 JSON mapper over real protoc-c descriptors: every
 * field type both ways (unnamed enum numbers survive, as proto3 says), and every kind of bad input
 * with the field named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.pb-c.h"
#include "gateway.pb-c.h"
#include "gw_json.h"
#include "json_types.pb-c.h"
#include "sender.pb-c.h"

/* Packs a message into arena memory. */
static uint8_t *pack(xd_arena *a, const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xd_arena_alloc(a, *len + 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/* JSON text of m, parsed back, must pack to the same bytes. Returns the text. */
static char *assert_round_trip(xd_arena *a, const ProtobufCMessage *m)
{
    char *text = gw_json_dump(m, 0);
    assert_non_null(text);
    ProtobufCMessage *back = NULL;
    xd_err err;
    xd_err_clear(&err);
    xd_code rc = gw_json_parse(text, strlen(text), m->descriptor, a, &back, &err);
    if (rc != XD_OK)
        fail_msg("re-parse of %s failed: %s", text, err.message);
    size_t n1, n2;
    uint8_t *b1 = pack(a, m, &n1), *b2 = pack(a, back, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    return text;
}

static json_t *get(const char *text, const char *key)
{
    static json_t *root;
    json_decref(root);
    root = json_loads(text, 0, NULL);
    assert_non_null(root);
    return json_object_get(root, key);
}

static void test_all_types_round_trip(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    Xdjt__AllTypes m = XDJT__ALL_TYPES__INIT;
    m.f_int32 = INT32_MIN;
    m.f_int64 = INT64_MIN;
    m.f_uint32 = UINT32_MAX;
    m.f_uint64 = UINT64_MAX;
    m.f_sint32 = -7;
    m.f_sint64 = -9000000000LL;
    m.f_fixed32 = 4000000000u;
    m.f_fixed64 = 1ULL << 63;
    m.f_sfixed32 = -1;
    m.f_sfixed64 = INT64_MAX;
    m.f_float = 1.5f;
    m.f_double = 0.1;
    m.f_bool = 1;
    m.f_string = "h\xc3\xa9llo \"quoted\"\n";
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (uint8_t)i;
    m.f_bytes.data = bytes;
    m.f_bytes.len = sizeof(bytes);
    m.f_enum = XDJT__COLOR__COLOR_BLUE;
    Xdjt__Inner child = XDJT__INNER__INIT, inner = XDJT__INNER__INIT;
    child.name = "child";
    int32_t vals[] = {1, -2, 3};
    inner.values = vals;
    inner.n_values = 3;
    inner.child = &child;
    m.f_message = &inner;
    int64_t r64[] = {0, -1, INT64_MAX};
    m.r_int64 = r64;
    m.n_r_int64 = 3;
    char *rs[] = {"a", "", "c"};
    m.r_string = rs;
    m.n_r_string = 3;
    ProtobufCBinaryData rb[] = {{0, NULL},
                                {3, (uint8_t *)"\xff\x00"
                                               "\x01"}};
    m.r_bytes = rb;
    m.n_r_bytes = 2;
    Xdjt__Color re[] = {XDJT__COLOR__COLOR_RED, XDJT__COLOR__COLOR_UNSPECIFIED, 99};
    m.r_enum = re;
    m.n_r_enum = 3;
    Xdjt__Inner *rm[] = {&child, &inner};
    m.r_message = rm;
    m.n_r_message = 2;
    double rd[] = {-0.5, 1e300};
    m.r_double = rd;
    m.n_r_double = 2;
    protobuf_c_boolean rbool[] = {1, 0};
    m.r_bool = rbool;
    m.n_r_bool = 2;
    m.choice_case = XDJT__ALL_TYPES__CHOICE_O_NUMBER;
    m.o_number = 0; /* a set oneof member is written even at its default */
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = "org_1";
    caller.role = XD__ROLE__ROLE_SUPPORT;
    m.caller = &caller;

    char *text = assert_round_trip(a, &m.base);
    assert_string_equal(json_string_value(get(text, "fInt64")), "-9223372036854775808");
    assert_string_equal(json_string_value(get(text, "fUint64")), "18446744073709551615");
    assert_string_equal(json_string_value(get(text, "fFixed64")), "9223372036854775808");
    assert_int_equal(json_integer_value(get(text, "fUint32")), 4294967295LL);
    assert_int_equal(json_integer_value(get(text, "fSint32")), -7);
    assert_string_equal(json_string_value(get(text, "fEnum")), "COLOR_BLUE");
    assert_true(json_is_true(get(text, "fBool")));
    assert_string_equal(json_string_value(get(text, "oNumber")), "0");
    assert_null(get(text, "oText"));
    const char *b64 = json_string_value(get(text, "fBytes"));
    assert_non_null(b64);
    assert_int_equal(strlen(b64), 344); /* 256 bytes -> 344 base64 chars, padded */
    json_t *renum = get(text, "rEnum");
    assert_string_equal(json_string_value(json_array_get(renum, 0)), "COLOR_RED");
    assert_int_equal(json_integer_value(json_array_get(renum, 2)), 99); /* unknown: number */
    assert_string_equal(json_string_value(json_object_get(get(text, "caller"), "role")),
                        "ROLE_SUPPORT");
    free(text);
    xd_arena_free(a);
}

static void test_defaults_are_omitted(void **state)
{
    (void)state;
    Xdjt__AllTypes m = XDJT__ALL_TYPES__INIT;
    char *text = gw_json_dump(&m.base, 0);
    assert_string_equal(text, "{}");
    free(text);
    Xd__HealthRequest h = XD__HEALTH_REQUEST__INIT;
    text = gw_json_dump(&h.base, 0);
    assert_string_equal(text, "{}");
    free(text);
}

static void test_real_envelope_and_gateway_messages(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = "org_a";
    caller.role = XD__ROLE__ROLE_MODULE;
    caller.principal = "0123456789abcdef";
    Xd__Request rq = XD__REQUEST__INIT;
    rq.method = "SendEmail";
    rq.payload.data = (uint8_t *)"\x0a\x03"
                                 "abc";
    rq.payload.len = 5;
    rq.request_id = "r1";
    rq.timeout_ms = 2500;
    rq.caller = &caller;
    char *t = assert_round_trip(a, &rq.base);
    assert_string_equal(json_string_value(get(t, "timeoutMs")), "2500");
    assert_string_equal(json_string_value(get(t, "payload")), "CgNhYmM=");
    free(t);

    Xd__ErrorDetail d1 = XD__ERROR_DETAIL__INIT, d2 = XD__ERROR_DETAIL__INIT;
    d1.field = "to[0]";
    d1.reason = "invalid";
    d2.field = "subject";
    Xd__ErrorDetail *ds[] = {&d1, &d2};
    Xd__Reply rp = XD__REPLY__INIT;
    rp.code = 3;
    rp.message = "bad";
    rp.details = ds;
    rp.n_details = 2;
    rp.retry_after_ms = -1;
    free(assert_round_trip(a, &rp.base));

    Xd__HealthReply hr = XD__HEALTH_REPLY__INIT;
    hr.status = XD__HEALTH_REPLY__STATUS__STATUS_SERVING;
    hr.service = "verify";
    hr.rss_kib = 1234;
    Xd__ServiceHealth sh = XD__SERVICE_HEALTH__INIT;
    sh.name = "verify";
    sh.up = 1;
    sh.health = &hr;
    sh.latency_ms = 3;
    Xd__ServiceHealth *shs[] = {&sh, &sh};
    Xd__SuiteHealthReply sr = XD__SUITE_HEALTH_REPLY__INIT;
    sr.all_up = 1;
    sr.services = shs;
    sr.n_services = 2;
    free(assert_round_trip(a, &sr.base));

    /* A module-written request: names, enum by name, both spellings work. */
    ProtobufCMessage *m = NULL;
    xd_err err;
    const char *body = "{\"org_id\":\"org_b\",\"role\":\"ROLE_ADMIN\",\"label\":\"ci\"}";
    assert_int_equal(
        gw_json_parse(body, strlen(body), &xd__create_api_key_request__descriptor, a, &m, &err),
        XD_OK);
    Xd__CreateApiKeyRequest *k = (Xd__CreateApiKeyRequest *)m;
    assert_string_equal(k->org_id, "org_b");
    assert_int_equal(k->role, XD__ROLE__ROLE_ADMIN);
    xd_arena_free(a);
}

static void test_lenient_inputs(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    ProtobufCMessage *m = NULL;
    xd_err err;
    const char *body =
        "{\"fInt64\": 42, \"f_int32\": \"-5\", \"fUint64\": \"18446744073709551615\","
        " \"fEnum\": 1, \"fBytes\": \"_-8\", \"fString\": null, \"rInt64\": [\"1\", 2],"
        " \"fDouble\": \"NaN\", \"fFloat\": 2e3, \"fMessage\": {\"child\": {}}}";
    xd_code rc = gw_json_parse(body, strlen(body), &xdjt__all_types__descriptor, a, &m, &err);
    if (rc != XD_OK)
        fail_msg("%s", err.message);
    Xdjt__AllTypes *t = (Xdjt__AllTypes *)m;
    assert_int_equal(t->f_int64, 42);
    assert_int_equal(t->f_int32, -5);
    assert_true(t->f_uint64 == UINT64_MAX);
    assert_int_equal(t->f_enum, XDJT__COLOR__COLOR_RED);
    assert_int_equal(t->f_bytes.len, 2); /* url-safe, unpadded "_-8" = ff fb */
    assert_int_equal(t->f_bytes.data[0], 0xff);
    assert_int_equal(t->f_bytes.data[1], 0xef);
    assert_int_equal(t->n_r_int64, 2);
    assert_int_equal(t->r_int64[1], 2);
    assert_true(t->f_double != t->f_double); /* NaN */
    assert_true(t->f_float == 2000.0f);
    assert_non_null(t->f_message);
    assert_non_null(t->f_message->child);
    /* Empty or blank body = the empty message. */
    assert_int_equal(gw_json_parse(" \n", 2, &xdjt__all_types__descriptor, a, &m, &err), XD_OK);
    xd_arena_free(a);
}

typedef struct bad_case {
    const char *body;
    const char *field;     /* expected err.field ("" = none) */
    const char *substring; /* expected in the message */
} bad_case;

static void test_bad_inputs_name_the_field(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"{\"bogus\":1}", "bogus", "unknown field"},
        {"{\"fMessage\":{\"child\":{\"nope\":true}}}", "fMessage.child.nope", "unknown field"},
        {"{\"fInt32\":\"3000000000\"}", "fInt32", "out of range"},
        {"{\"fInt32\":3000000000}", "fInt32", "out of range"},
        {"{\"fUint32\":-1}", "fUint32", "negative"},
        {"{\"fUint64\":\"-1\"}", "fUint64", "negative"},
        {"{\"fInt64\":\"99999999999999999999\"}", "fInt64", "out of range"},
        {"{\"fInt64\":\"12x\"}", "fInt64", "not a decimal integer"},
        {"{\"fInt64\":\" 12\"}", "fInt64", "not a decimal integer"},
        {"{\"fInt32\":1.5}", "fInt32", "not an integer"},
        {"{\"fInt32\":true}", "fInt32", "expected an integer"},
        {"{\"fString\":5}", "fString", "expected a string"},
        {"{\"fString\":\"a\\u0000b\"}", "", "u0000 is not allowed"},
        {"{\"fBool\":\"true\"}", "fBool", "expected true or false"},
        {"{\"fBytes\":\"###\"}", "fBytes", "base64"},
        {"{\"fEnum\":\"COLOR_GREEN\"}", "fEnum", "COLOR_RED"},
        {"{\"fEnum\":true}", "fEnum", "expected an enum name"},
        {"{\"fFloat\":1e300}", "fFloat", "out of range"},
        {"{\"fMessage\":[]}", "fMessage", "expected an object"},
        {"{\"rString\":\"a\"}", "rString", "expected an array"},
        {"{\"rString\":[\"a\",null]}", "rString[1]", "null"},
        {"{\"rMessage\":[{},{\"values\":[1,\"x\"]}]}", "rMessage[1].values[1]", "decimal"},
        {"{\"f_int32\":1,\"fInt32\":2}", "fInt32", "twice"},
        {"{\"oText\":\"a\",\"oNumber\":1}", "oNumber", "oneof"},
        {"{\"fInt32\":1,\"fInt32\":2}", "", "duplicate"},
        {"{\"fInt32\":", "", "not valid JSON"},
        {"{} trailing", "", "not valid JSON"},
        {"[1,2]", "", "JSON object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xd_arena *a = xd_arena_new();
        ProtobufCMessage *m = NULL;
        xd_err err;
        xd_err_clear(&err);
        xd_code rc = gw_json_parse(cases[i].body, strlen(cases[i].body),
                                   &xdjt__all_types__descriptor, a, &m, &err);
        if (rc != XD_INVALID_ARGUMENT || strcmp(err.field, cases[i].field) != 0 ||
            !strstr(err.message, cases[i].substring))
            fail_msg("case %zu %s: got %d field '%s' message '%s'", i, cases[i].body, rc, err.field,
                     err.message);
        xd_arena_free(a);
    }
}

static void test_depth_is_bounded(void **state)
{
    (void)state;
    char body[4096] = "";
    for (int i = 0; i < GW_JSON_MAX_DEPTH + 5; i++)
        strcat(body, i ? "{\"child\":" : "{\"fMessage\":");
    strcat(body, "{}");
    for (int i = 0; i < GW_JSON_MAX_DEPTH + 5; i++)
        strcat(body, "}");
    xd_arena *a = xd_arena_new();
    ProtobufCMessage *m = NULL;
    xd_err err;
    assert_int_equal(gw_json_parse(body, strlen(body), &xdjt__all_types__descriptor, a, &m, &err),
                     XD_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "deeper"));
    xd_arena_free(a);
}

static void test_base64(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    const char *vectors[][2] = {{"", ""},
                                {"f", "Zg=="},
                                {"fo", "Zm8="},
                                {"foo", "Zm9v"},
                                {"foob", "Zm9vYg=="},
                                {"fooba", "Zm9vYmE="},
                                {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char *enc = gw_base64_encode((const uint8_t *)vectors[i][0], strlen(vectors[i][0]));
        assert_string_equal(enc, vectors[i][1]); /* RFC 4648 section 10 */
        uint8_t *dec = NULL;
        size_t n = 0;
        assert_int_equal(gw_base64_decode(enc, strlen(enc), a, &dec, &n), 0);
        assert_int_equal(n, strlen(vectors[i][0]));
        assert_memory_equal(dec, vectors[i][0], n);
        free(enc);
    }
    uint8_t *dec;
    size_t n;
    assert_int_equal(gw_base64_decode("Z", 1, a, &dec, &n), -1);
    assert_int_equal(gw_base64_decode("Zm9v!", 5, a, &dec, &n), -1);
    xd_arena_free(a);
}

/* The gateway's SetBanner carries the image as proto3 bytes: standard base64
 * in JSON, both ways, and the same bytes after a round trip. */
static void test_banner_image_is_base64(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    static const char json[] = "{\"banner\":{\"module\":\"registration\",\"html\":"
                               "\"<img src=\\\"cid:banner\\\">\",\"image\":\"iVBORw0KGgo=\","
                               "\"imageContentType\":\"image/png\",\"imageAlt\":\"Logo\"}}";
    ProtobufCMessage *m = NULL;
    xd_err err;
    xd_err_clear(&err);
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&xd__gateway__descriptor, "SetBanner");
    assert_non_null(md);
    xd_code rc = gw_json_parse(json, strlen(json), md->input, a, &m, &err);
    if (rc != XD_OK)
        fail_msg("%s", err.message);
    const Xd__SetBannerRequest *r = (const Xd__SetBannerRequest *)m;
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_int_equal(r->banner->image.len, 8);
    assert_memory_equal(r->banner->image.data, png_magic, 8);
    assert_string_equal(r->banner->image_content_type, "image/png");
    char *text = assert_round_trip(a, m);
    assert_non_null(strstr(text, "\"image\":\"iVBORw0KGgo=\""));
    free(text);
    /* Not base64: refused, naming the field. */
    static const char bad[] = "{\"banner\":{\"image\":\"not base64!\"}}";
    assert_int_equal(gw_json_parse(bad, strlen(bad), md->input, a, &m, &err), XD_INVALID_ARGUMENT);
    assert_non_null(strstr(err.field, "banner.image"));
    /* The reply of ListBanners shows imageSize as a number, no bytes. */
    Xd__Banner b = XD__BANNER__INIT;
    b.image_size = 5120;
    b.updated_at_ms = 1800000000000LL;
    text = gw_json_dump(&b.base, 0);
    assert_non_null(strstr(text, "\"imageSize\":5120"));
    assert_non_null(strstr(text, "\"updatedAtMs\":\"1800000000000\""));
    assert_null(strstr(text, "\"image\""));
    free(text);
    xd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types_round_trip),
        cmocka_unit_test(test_defaults_are_omitted),
        cmocka_unit_test(test_real_envelope_and_gateway_messages),
        cmocka_unit_test(test_lenient_inputs),
        cmocka_unit_test(test_bad_inputs_name_the_field),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_banner_image_is_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
