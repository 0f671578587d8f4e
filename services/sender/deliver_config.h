/*
 * deliver_config.h: the delivery configuration keys, as initializers that
 * handlers.c places in the service's config table (env XD_SENDER_<KEY>).
 * Durations accept "250ms", "5s", "10m", "4h", "3d".
 */
#ifndef SND_DELIVER_CONFIG_H
#define SND_DELIVER_CONFIG_H

#include "xd/config.h"

extern const char *const snd_route_choices[];
extern const char *const snd_tls_choices[];

#define SND_DELIVERY_CONFIG_ITEMS                                                                   \
    {"delivery.workers", XD_CFG_INT, "4", "delivery threads", 1, 64},                               \
        {"delivery.claim_max", XD_CFG_INT, "100", "recipients a worker takes at once", 1, 1000},    \
        {"delivery.tx_max_rcpts",                                                                   \
         XD_CFG_INT,                                                                                \
         "100",                                                                                     \
         "recipients per SMTP transaction (shared copies are split)",                               \
         1,                                                                                         \
         1000},                                                                                     \
        {"delivery.msgs_per_conn",                                                                  \
         XD_CFG_INT,                                                                                \
         "100",                                                                                     \
         "messages per connection when ratelimit gives no limit",                                   \
         1,                                                                                         \
         100000},                                                                                   \
        {"delivery.route",                                                                          \
         XD_CFG_ENUM,                                                                               \
         "direct_mx",                                                                               \
         "route of organizations without SetRelay",                                                 \
         0,                                                                                         \
         0,                                                                                         \
         snd_route_choices},                                                                        \
        {"delivery.allow_capture", XD_CFG_BOOL, "false",                                            \
         "SetRelay may choose TEST_CAPTURE (test deployments)"},                                    \
        {"delivery.bounce_domain", XD_CFG_STRING, "",                                               \
         "domain of the VERP envelope sender; empty = the From domain"},                            \
        {"delivery.helo_name", XD_CFG_STRING, "localhost", "our name in EHLO"},                     \
        {"delivery.sending_ip", XD_CFG_STRING, "", "sending IP for the ratelimit subject"},         \
        {"delivery.idle_poll", XD_CFG_DURATION, "1s", "longest idle sleep of a worker", 10, 60000}, \
        {"delivery.unreachable_retry",                                                              \
         XD_CFG_DURATION,                                                                           \
         "30s",                                                                                     \
         "postponement when ratelimit or verify do not answer",                                     \
         10,                                                                                        \
         3600000},                                                                                  \
        {"capture.host", XD_CFG_STRING, "127.0.0.1", "TEST_CAPTURE sink host"},                     \
        {"capture.port", XD_CFG_INT, "2525", "TEST_CAPTURE sink port", 1, 65535},                   \
        {"smarthost.host", XD_CFG_STRING, "", "SMARTHOST relay host"},                              \
        {"smarthost.port", XD_CFG_INT, "587", "SMARTHOST relay port", 1, 65535},                    \
        {"smarthost.tls", XD_CFG_ENUM, "required", "SMARTHOST TLS policy", 0, 0, snd_tls_choices},  \
        {"smarthost.username", XD_CFG_STRING, "", "SMARTHOST AUTH user; empty = no AUTH"},          \
        {"smarthost.password", XD_CFG_STRING, "", "SMARTHOST AUTH password", .secret = 1},          \
        {"direct.port", XD_CFG_INT, "25", "port of recipients' MX hosts", 1, 65535},                \
        {"direct.tls_verify", XD_CFG_BOOL, "false",                                                 \
         "verify MX certificates (off: opportunistic STARTTLS)"},                                   \
        {"dns.servers", XD_CFG_STRING, "", "resolver list host:port,...; empty = resolv.conf"},     \
        {"dns.timeout", XD_CFG_DURATION, "5s", "DNS budget per lookup", 10, 60000},                 \
        {"smtp.ca_file", XD_CFG_STRING, "", "PEM CA bundle; empty = system store"},                 \
        {"smtp.timeout_connect", XD_CFG_DURATION, "30s", "TCP connect timeout", 10, 600000},        \
        {"smtp.timeout_command",                                                                    \
         XD_CFG_DURATION,                                                                           \
         "5m",                                                                                      \
         "reply timeout of each command",                                                           \
         10,                                                                                        \
         3600000},                                                                                  \
        {"smtp.timeout_data_end",                                                                   \
         XD_CFG_DURATION,                                                                           \
         "10m",                                                                                     \
         "reply timeout after the final dot",                                                       \
         10,                                                                                        \
         3600000},                                                                                  \
        {"retry.initial", XD_CFG_DURATION, "5m", "first retry delay after a 4xx", 10, 86400000},    \
        {"retry.max", XD_CFG_DURATION, "4h", "retry delay cap", 10, 7LL * 86400000},                \
        {"retry.max_age", XD_CFG_DURATION, "3d", "give up (EXPIRED) after", 100, 30LL * 86400000},  \
        {"retry.jitter_permille", XD_CFG_INT, "100", "+- share of each delay (per mille)", 0, 500}, \
        {"ratelimit.url", XD_CFG_STRING, "", "xd-ratelimit URL; empty = no pacing"},                \
        {"ratelimit.timeout",                                                                       \
         XD_CFG_DURATION,                                                                           \
         "300ms",                                                                                   \
         "deadline of pacing calls (fail closed after)",                                            \
         10,                                                                                        \
         10000},                                                                                    \
        {"verify.url", XD_CFG_STRING, "",                                                           \
         "xd-verify URL for events and suppression; empty = events wait in the outbox"},            \
        {"verify.timeout", XD_CFG_DURATION, "2s", "deadline of verify calls", 10, 60000},           \
        {"verify.suppression", XD_CFG_BOOL, "true", "check suppression before each delivery"},      \
    {                                                                                               \
        "submit.max_ahead", XD_CFG_DURATION, "30d", "latest send_at_ms accepted", 1000,             \
            366LL * 86400000                                                                        \
    }

#endif
