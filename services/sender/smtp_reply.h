/*
 * smtp_reply.h: pure parsing of SMTP server replies (RFC 5321 §4.2), EHLO
 * keywords (RFC 5321 §4.1.1.1 and the extension RFCs) and enhanced status
 * codes (RFC 3463 / RFC 2034). No I/O, no allocation: a libFuzzer harness
 * (tests/fuzz/smtp_reply) drives these functions directly.
 *
 * Memory: every struct here is a plain value owned by the caller; inputs are
 * read only and never retained.
 * Thread-safety: no shared state; a parser is used by one thread at a time.
 */
#ifndef SND_SMTP_REPLY_H
#define SND_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* Bounds. A longer line, a longer reply or more lines is a protocol error. */
#define SND_SMTP_LINE_MAX     2048  /* bytes per reply line, without CRLF */
#define SND_SMTP_REPLY_MAX    32768 /* bytes per whole (multi-line) reply */
#define SND_SMTP_REPLY_LINES  256   /* lines per reply */
#define SND_SMTP_TEXT_MAX     512   /* text kept for the caller (truncated) */
#define SND_SMTP_ENHANCED_MAX 16    /* "5.123.123" plus NUL fits */
#define SND_SMTP_ERRTEXT_MAX  128   /* reason text of a parse error */

/* One complete reply: the code, the enhanced code of the first line (when it
 * carried one of the same class) and the text of all lines joined by a space,
 * control characters replaced by '?', so it is safe to log and store. */
typedef struct snd_smtp_reply {
    int code;                             /* 200..599; 0 when no reply was read */
    char enhanced[SND_SMTP_ENHANCED_MAX]; /* "5.1.1" or "" */
    char text[SND_SMTP_TEXT_MAX];         /* may be truncated; never has CR/LF */
} snd_smtp_reply;

typedef enum snd_smtp_parse_rc {
    SND_SMTP_PARSE_MORE = 0,  /* line accepted, reply continues */
    SND_SMTP_PARSE_DONE = 1,  /* line accepted, reply complete */
    SND_SMTP_PARSE_ERROR = -1 /* malformed: see parser.error */
} snd_smtp_parse_rc;

/* Accumulates the lines of one reply. Zero it (or call _reset) before use. */
typedef struct snd_smtp_reply_parser {
    snd_smtp_reply reply;
    size_t n_lines;
    size_t n_bytes;
    size_t text_len;
    char error[SND_SMTP_ERRTEXT_MAX]; /* why the last line was refused */
} snd_smtp_reply_parser;

void snd_smtp_reply_parser_reset(snd_smtp_reply_parser *p);

/* Feeds one line (without its line ending; a trailing CR is ignored).
 * Returns MORE, DONE (p->reply complete) or ERROR (p->error says why; the
 * parser must be reset before reuse). */
snd_smtp_parse_rc snd_smtp_reply_feed(snd_smtp_reply_parser *p, const char *line, size_t len);

/* Parses an enhanced status code ("class.subject.detail", class 2/4/5,
 * subject and detail 1-3 digits) at the start of text, followed by a space
 * or the end. Writes it NUL-terminated into out (SND_SMTP_ENHANCED_MAX bytes)
 * and returns its length, or 0 (out = "") when text does not start with one. */
size_t snd_smtp_enhanced_parse(const char *text, size_t len, char out[SND_SMTP_ENHANCED_MAX]);

/* Extensions a server announced in its EHLO reply. */
enum {
    SND_SMTP_EXT_PIPELINING = 1u << 0,
    SND_SMTP_EXT_SIZE = 1u << 1,
    SND_SMTP_EXT_8BITMIME = 1u << 2,
    SND_SMTP_EXT_SMTPUTF8 = 1u << 3,
    SND_SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 4,
    SND_SMTP_EXT_STARTTLS = 1u << 5,
    SND_SMTP_EXT_AUTH = 1u << 6,
};

enum {
    SND_SMTP_AUTH_PLAIN = 1u << 0,
    SND_SMTP_AUTH_LOGIN = 1u << 1,
};

typedef struct snd_smtp_ext {
    unsigned flags;      /* SND_SMTP_EXT_* */
    unsigned auth_mechs; /* SND_SMTP_AUTH_* offered */
    uint64_t size_max;   /* SIZE limit in bytes; 0 = none announced */
} snd_smtp_ext;

/* Reads one EHLO reply line (after the 3-digit code and separator: i.e. the
 * text "PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN") into ext. Unknown
 * keywords and malformed parameters are ignored, as RFC 5321 asks. */
void snd_smtp_ext_parse_line(snd_smtp_ext *ext, const char *text, size_t len);

/* Splits a raw EHLO reply body (lines separated by LF or CRLF, each with its
 * "250-"/"250 " prefix) into ext, skipping the first (greeting) line.
 * Returns 0, or -1 when the reply is malformed. */
int snd_smtp_ext_parse_reply(snd_smtp_ext *ext, const char *data, size_t len);

#endif
