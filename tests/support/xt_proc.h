/*
 * xt_proc.h: child processes for the e2e tests: real xd-* services and
 * peers, started with extra environment and their stderr/stdout in a log
 * file, stopped cleanly (SIGTERM, bounded) or killed (kill -9).
 * Every child runs in its own process group and dies with the test
 * (PR_SET_PDEATHSIG), so a failing test leaves nothing behind.
 * Memory: an xt_proc is a caller-owned value. Thread-safety: one thread
 * starts and stops a given xt_proc; xt_proc_rss_kb may run anywhere.
 */
#ifndef XT_PROC_H
#define XT_PROC_H

#include <stdint.h>
#include <sys/types.h>

typedef struct xt_proc {
    pid_t pid; /* 0 = not running */
    char log[512];
} xt_proc;

/* Starts argv[0] (a path) with argv and env ("KEY=VALUE", NULL-ended,
 * added to ours); stdin /dev/null, stdout+stderr appended to log (NULL =
 * inherited). Returns 0 or -1. */
int xt_proc_spawn(xt_proc *p, char *const argv[], const char *const *env, const char *log);

/* SIGTERM, up to grace_ms, then SIGKILL; reaps it. Returns the exit
 * status (0 = clean), -1 when a signal ended it or it was not running. */
int xt_proc_stop(xt_proc *p, int64_t grace_ms);

/* kill -9 and reap (the crash a fault test wants). */
void xt_proc_kill9(xt_proc *p);

/* 1 while the child runs (reaps it when it has exited). */
int xt_proc_alive(xt_proc *p);

/* Resident set of a process in KiB from /proc; -1 when unknown. */
long xt_proc_rss_kb(pid_t pid);
/* CPU time (user + system) the process has used so far, in ms; -1 if gone. */
long xt_proc_cpu_ms(pid_t pid);

/* Prints the last n lines of the log to stderr (for a failing test). */
void xt_proc_dump_log(const xt_proc *p, int n);

#endif
