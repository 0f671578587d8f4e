/* gw_harness.c: shared helpers of the gateway integration tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

char gwh_dir[256];
char gwh_http_base[64];

void gwh_make_dir(const char *name)
{
    snprintf(gwh_dir, sizeof(gwh_dir), "/tmp/xd-%s-XXXXXX", name);
    assert_non_null(mkdtemp(gwh_dir));
}

void gwh_remove_dir(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", gwh_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", gwh_dir);
}

int gwh_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

int gwh_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void gwh_free(gwh_reply *r)
{
    free(r->body);
    json_decref(r->json);
}

gwh_reply gwh_http(const char *path, const char *key, const char *body, const char *extra)
{
    char body_file[400], out_file[400], cmd[2048];
    snprintf(body_file, sizeof(body_file), "%s/body.json", gwh_dir);
    snprintf(out_file, sizeof(out_file), "%s/out.txt", gwh_dir);
    if (body) {
        FILE *f = fopen(body_file, "wb");
        fwrite(body, 1, strlen(body), f);
        fclose(f);
    }
    char auth[300] = "";
    if (key)
        snprintf(auth, sizeof(auth), "-H 'Authorization: Bearer %s'", key);
    snprintf(cmd, sizeof(cmd), "curl -s -o %s -w '%%{http_code}' %s %s %s%s '%s%s'", out_file, auth,
             extra ? extra : "", body ? "-X POST --data-binary @" : "", body ? body_file : "",
             gwh_http_base, path);
    char *status = NULL;
    int rc = gwh_run(cmd, &status);
    gwh_reply r = {.status = rc == 0 ? atoi(status) : 0}; /* 0: no connection */
    free(status);
    if (rc != 0) {
        r.body = calloc(1, 1);
        return r;
    }
    FILE *f = fopen(out_file, "rb");
    assert_non_null(f);
    r.body = calloc(1, 1 << 20);
    size_t n = fread(r.body, 1, (1 << 20) - 1, f);
    r.body[n] = '\0';
    fclose(f);
    r.json = json_loads(r.body, 0, NULL);
    return r;
}

const char *gwh_str(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

void gwh_expect_error(gwh_reply r, int status, const char *code, const char *substring)
{
    if (r.status != status || !r.json || strcmp(gwh_str(r.json, "code"), code) != 0 ||
        (substring && !strstr(gwh_str(r.json, "message"), substring)))
        fail_msg("want %d %s '%s', got %d %s", status, code, substring ? substring : "", r.status,
                 r.body);
    gwh_free(&r);
}

pid_t gwh_spawn(const char *exe, const char *const *env)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execl(exe, exe, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int gwh_stop(pid_t pid)
{
    int st = 0;
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *gwh_prom_check(const char *text)
{
    char path[400], cmd[1200];
    snprintf(path, sizeof(path), "%s/metrics.txt", gwh_dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    const char *src = getenv("XD_SOURCE_DIR");
    assert_non_null(src);
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 '%s/tests/integration/gateway/prom_check.py' '%s' 2>&1", src, path);
    char *out = NULL;
    if (gwh_run(cmd, &out) != 0)
        fail_msg("invalid Prometheus text: %s", out);
    return out;
}
