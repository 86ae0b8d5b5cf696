// berth-exec: starts one `docker exec` process (without a terminal) inside a
// running container, the way `runc exec` would, in a few milliseconds instead
// of runc's tens: `runc exec` copies its own 10 MiB binary into a memfd and
// starts the Go runtime twice on every call.
//
// Usage: berth-exec 3>errors 4<plan
//
// The plan comes from src/runtime/exec-helper.ts: NUL-terminated tokens, each
// directive a keyword followed by its values. The helper joins the
// container's cgroups and namespaces (those of the container's init), forks
// the process into its pid namespace, applies rlimits, the seccomp filter,
// the bounding/effective/permitted/inheritable/ambient capabilities, user
// and groups, no_new_privs and the working directory, and executes it. The
// helper itself stays outside the container, forwards signals and exits
// with the process's status (128+N for a signal), as runc does. A failure
// before the process runs is described on fd 3 and exits 126.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ERR_FD 3
#define PLAN_FD 4

struct rule {
  uint32_t action;
  const char *syscall;
  unsigned nargs;
  struct scmp_arg_cmp args[6];
};

static struct plan {
  int pid;
  const char *ns[8];
  unsigned nns;
  const char *cgroups_v1[32];
  unsigned ncgroups_v1;
  const char *cgroup_v2;
  const char *init_cgroup;
  const char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t groups[256];
  unsigned ngroups;
  int nnp;
  int has_oom;
  const char *oom;
  struct { int resource; rlim_t soft, hard; } rlimits[32];
  unsigned nrlimits;
  uint64_t bounding, effective, permitted, inheritable, ambient;
  int seccomp;
  const char *bpf_cache;
  uint32_t default_action;
  const char *arches[8];
  unsigned narches;
  struct rule *rules;
  unsigned nrules;
  char **env;
  unsigned nenv;
  char **args;
  unsigned nargs;
} p;

static void die(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof msg - 1) n = sizeof msg - 1;
  if (n > 0 && write(ERR_FD, msg, n) < 0) {
    // fd 3 missing: stderr is all that is left
    (void)!write(2, msg, n);
  }
  _exit(126);
}

// ---- the plan ------------------------------------------------------------

static char *buf, *cur, *end;

static char *token(void) {
  if (cur >= end) die("berth-exec: plan ends early");
  char *t = cur;
  char *nul = memchr(cur, '\0', end - cur);
  if (!nul) die("berth-exec: plan token not terminated");
  cur = nul + 1;
  return t;
}

static long long number(void) {
  char *t = token(), *rest;
  errno = 0;
  long long v = strtoll(t, &rest, 10);
  if (errno || *rest || rest == t) die("berth-exec: bad number in plan: %s", t);
  return v;
}

static uint64_t unsigned_number(void) {
  char *t = token(), *rest;
  errno = 0;
  unsigned long long v = strtoull(t, &rest, 10);
  if (errno || *rest || rest == t) die("berth-exec: bad number in plan: %s", t);
  return v;
}

static uint32_t seccomp_action(const char *name, int errno_ret) {
  if (!strcmp(name, "SCMP_ACT_ALLOW")) return SCMP_ACT_ALLOW;
  if (!strcmp(name, "SCMP_ACT_ERRNO")) return SCMP_ACT_ERRNO(errno_ret);
  if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD")) return SCMP_ACT_KILL_THREAD;
  if (!strcmp(name, "SCMP_ACT_KILL_PROCESS")) return SCMP_ACT_KILL_PROCESS;
  if (!strcmp(name, "SCMP_ACT_TRAP")) return SCMP_ACT_TRAP;
  if (!strcmp(name, "SCMP_ACT_LOG")) return SCMP_ACT_LOG;
  die("berth-exec: unsupported seccomp action %s", name);
  return 0;
}

static enum scmp_compare seccomp_op(const char *name) {
  if (!strcmp(name, "SCMP_CMP_NE")) return SCMP_CMP_NE;
  if (!strcmp(name, "SCMP_CMP_LT")) return SCMP_CMP_LT;
  if (!strcmp(name, "SCMP_CMP_LE")) return SCMP_CMP_LE;
  if (!strcmp(name, "SCMP_CMP_EQ")) return SCMP_CMP_EQ;
  if (!strcmp(name, "SCMP_CMP_GE")) return SCMP_CMP_GE;
  if (!strcmp(name, "SCMP_CMP_GT")) return SCMP_CMP_GT;
  if (!strcmp(name, "SCMP_CMP_MASKED_EQ")) return SCMP_CMP_MASKED_EQ;
  die("berth-exec: unsupported seccomp operator %s", name);
  return 0;
}

static void read_plan(void) {
  size_t cap = 64 << 10, len = 0;
  buf = malloc(cap);
  if (!buf) die("berth-exec: out of memory");
  for (;;) {
    if (len == cap) {
      if (cap >= 16 << 20) die("berth-exec: plan too large");
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf) die("berth-exec: out of memory");
    }
    ssize_t n = read(PLAN_FD, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("berth-exec: read plan: %s", strerror(errno));
    if (n == 0) break;
    len += n;
  }
  close(PLAN_FD);
  cur = buf;
  end = buf + len;

  // Rules, variables and arguments: at most one per token.
  unsigned tokens = 0;
  for (char *c = buf; c < end; c++) tokens += *c == '\0';
  p.rules = calloc(tokens + 1, sizeof *p.rules);
  p.env = calloc(tokens + 1, sizeof *p.env);
  p.args = calloc(tokens + 1, sizeof *p.args);
  if (!p.rules || !p.env || !p.args) die("berth-exec: out of memory");

  for (;;) {
    char *key = token();
    if (!strcmp(key, "end")) break;
    if (!strcmp(key, "pid")) p.pid = number();
    else if (!strcmp(key, "ns")) {
      if (p.nns == 8) die("berth-exec: too many namespaces");
      p.ns[p.nns++] = token();
    } else if (!strcmp(key, "cgroup-v1")) {
      if (p.ncgroups_v1 == 32) die("berth-exec: too many cgroups");
      p.cgroups_v1[p.ncgroups_v1++] = token();
    } else if (!strcmp(key, "cgroup-v2")) {
      p.cgroup_v2 = token();
    } else if (!strcmp(key, "init-cgroup")) p.init_cgroup = token();
    else if (!strcmp(key, "cwd")) p.cwd = token();
    else if (!strcmp(key, "uid")) p.uid = unsigned_number();
    else if (!strcmp(key, "gid")) p.gid = unsigned_number();
    else if (!strcmp(key, "group")) {
      if (p.ngroups == 256) die("berth-exec: too many groups");
      p.groups[p.ngroups++] = unsigned_number();
    } else if (!strcmp(key, "nnp")) p.nnp = number() != 0;
    else if (!strcmp(key, "oom")) p.has_oom = 1, p.oom = token();
    else if (!strcmp(key, "rlimit")) {
      if (p.nrlimits == 32) die("berth-exec: too many rlimits");
      p.rlimits[p.nrlimits].resource = number();
      p.rlimits[p.nrlimits].soft = unsigned_number();
      p.rlimits[p.nrlimits].hard = unsigned_number();
      p.nrlimits++;
    } else if (!strcmp(key, "caps")) {
      p.bounding = unsigned_number();
      p.effective = unsigned_number();
      p.permitted = unsigned_number();
      p.inheritable = unsigned_number();
      p.ambient = unsigned_number();
    } else if (!strcmp(key, "seccomp")) {
      char *action = token();
      p.default_action = seccomp_action(action, number());
      p.seccomp = 1;
    } else if (!strcmp(key, "bpf-cache")) {
      p.bpf_cache = token();
    } else if (!strcmp(key, "arch")) {
      if (p.narches == 8) die("berth-exec: too many architectures");
      p.arches[p.narches++] = token();
    } else if (!strcmp(key, "rule")) {
      struct rule *r = &p.rules[p.nrules++];
      char *action = token();
      r->action = seccomp_action(action, number());
      r->syscall = token();
      r->nargs = number();
      if (r->nargs > 6) die("berth-exec: too many seccomp arguments");
      for (unsigned i = 0; i < r->nargs; i++) {
        r->args[i].arg = number();
        r->args[i].op = seccomp_op(token());
        r->args[i].datum_a = unsigned_number();
        r->args[i].datum_b = unsigned_number();
      }
    } else if (!strcmp(key, "env")) {
      p.env[p.nenv++] = token();
    } else if (!strcmp(key, "arg")) {
      p.args[p.nargs++] = token();
    } else die("berth-exec: unknown plan directive %s", key);
  }
  if (p.pid <= 0 || p.nargs == 0 || !p.cwd) die("berth-exec: plan lacks pid, args or cwd");
}

// ---- inside the container -----------------------------------------------

// The filter as BPF, built before the process enters the container (the
// cache file is a host path). Compiling the profile with libseccomp costs
// about 10 ms of CPU; the program is kept in a cache file named after the
// profile's hash, so an exec usually just reads it.
static struct sock_fprog filter;

static int read_all(int fd, char **out, size_t *len) {
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) || st.st_size > 1 << 20) return -1;
  char *b = malloc(st.st_size);
  if (!b) return -1;
  if (pread(fd, b, st.st_size, 0) != st.st_size) {
    free(b);
    return -1;
  }
  *out = b;
  *len = st.st_size;
  return 0;
}

static void use_program(char *b, size_t len) {
  filter.len = len / sizeof(struct sock_filter);
  filter.filter = (struct sock_filter *)b;
}

// Syscalls newer than the profile fail with ENOSYS, as under runc: a libc
// or tool that tries a new call falls back to an older one on ENOSYS but
// gives up on EPERM. libseccomp knows nothing of numbers past its own table
// (the profile's newest names are skipped above), so a short program in
// front of its filter answers ENOSYS for any number above the highest one
// the profile names, per architecture; x32 calls arrive on x86_64 with
// X32_SYSCALL_BIT set and are compared with x32's own highest.
#define X32_SYSCALL_BIT 0x40000000u
#define MAX_STUB 64

/** The highest syscall number of arch that the profile names and this libseccomp knows; 0 if none. */
static uint32_t highest_named(uint32_t arch) {
  uint32_t top = 0;
  for (unsigned i = 0; i < p.nrules; i++) {
    int nr = seccomp_syscall_resolve_name_arch(arch, p.rules[i].syscall);
    if (nr >= 0 && (uint32_t)nr > top) top = nr;
  }
  return top;
}

/** Prepends the ENOSYS program to the filter b (len bytes); returns the new buffer. */
static char *with_enosys_stub(char *b, size_t *len) {
  // An allowing (or only logging) default lets unknown calls through anyway.
  if (p.default_action == SCMP_ACT_ALLOW || p.default_action == SCMP_ACT_LOG) return b;
  uint32_t arches[9];
  unsigned n = 0;
  uint32_t x32_top = 0;
  arches[n++] = seccomp_arch_native();
  for (unsigned i = 0; i < p.narches; i++) {
    uint32_t a = seccomp_arch_resolve_name(p.arches[i]);
    if (!a) continue;
    if (a == SCMP_ARCH_X32) {
      x32_top = highest_named(a);
      continue;
    }
    int seen = 0;
    for (unsigned j = 0; j < n; j++) seen |= arches[j] == a;
    if (!seen) arches[n++] = a;
  }
  struct sock_filter stub[MAX_STUB];
  unsigned k = 0;
  // Jumps to "enosys" and "orig" are patched once the stub's length is known.
  unsigned to_enosys[2 * 9], to_orig[3 * 9];
  unsigned ne = 0, no = 0;
  stub[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  for (unsigned i = 0; i < n; i++) {
    uint32_t top = highest_named(arches[i]);
    if (!top) continue;
    int x86_64 = arches[i] == SCMP_ARCH_X86_64;
    // if (arch != this) skip this arch's block (2 or 4 instructions more)
    stub[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arches[i], 0, x86_64 ? 4 : 2);
    stub[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    if (x86_64) {
      // x32 calls: compared with x32's highest, or left to the filter when the profile has no x32.
      stub[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, 1, 0);
      stub[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, top, 0, 0);
      to_enosys[ne++] = k, to_orig[no++] = k, k++;
      if (x32_top) {
        stub[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, x32_top, 0, 0);
        to_enosys[ne++] = k, to_orig[no++] = k, k++;
      } else {
        stub[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0);
        to_orig[no++] = k, k++;
      }
    } else {
      stub[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, top, 0, 0);
      to_enosys[ne++] = k, to_orig[no++] = k, k++;
    }
    // The accumulator now holds nr: reload the arch for the next comparison.
    if (i + 1 < n) stub[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  }
  if (ne == 0) return b;
  unsigned orig_at = k + 2; // after "ja orig" and "ret ENOSYS"
  stub[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0);
  to_orig[no++] = k, k++;
  unsigned enosys_at = k;
  stub[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
  for (unsigned i = 0; i < ne; i++) stub[to_enosys[i]].jt = enosys_at - to_enosys[i] - 1;
  for (unsigned i = 0; i < no; i++) {
    struct sock_filter *f = &stub[to_orig[i]];
    if (BPF_OP(f->code) == BPF_JA) f->k = orig_at - to_orig[i] - 1;
    else f->jf = orig_at - to_orig[i] - 1;
  }
  size_t stub_len = k * sizeof(struct sock_filter);
  char *out = malloc(stub_len + *len);
  if (!out) die("exec failed: out of memory");
  memcpy(out, stub, stub_len);
  memcpy(out + stub_len, b, *len);
  free(b);
  *len += stub_len;
  return out;
}

static void compile_seccomp(void) {
  char *b;
  size_t len;
  if (p.bpf_cache) {
    int fd = open(p.bpf_cache, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      int ok = read_all(fd, &b, &len) == 0;
      close(fd);
      if (ok) {
        use_program(b, len);
        return;
      }
    }
  }
  scmp_filter_ctx ctx = seccomp_init(p.default_action);
  if (!ctx) die("exec failed: seccomp_init failed");
  // Keep no_new_privs as the container asked (libseccomp would force it on).
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) die("exec failed: seccomp: cannot clear the NNP attribute");
  for (unsigned i = 0; i < p.narches; i++) {
    uint32_t arch = seccomp_arch_resolve_name(p.arches[i]);
    if (!arch) continue;
    int rc = seccomp_arch_add(ctx, arch);
    if (rc < 0 && rc != -EEXIST) die("exec failed: seccomp: cannot add architecture %s: %s", p.arches[i], strerror(-rc));
  }
  for (unsigned i = 0; i < p.nrules; i++) {
    struct rule *r = &p.rules[i];
    if (r->action == p.default_action) continue;
    int nr = seccomp_syscall_resolve_name(r->syscall);
    if (nr == __NR_SCMP_ERROR) continue; // unknown to this libseccomp: as runc, skip it
    // libseccomp takes one comparison per argument in a rule; several on the
    // same argument become one rule each (runc does the same).
    int repeated = 0;
    for (unsigned a = 0; a < r->nargs; a++)
      for (unsigned b = a + 1; b < r->nargs; b++) repeated |= r->args[a].arg == r->args[b].arg;
    int rc;
    if (!repeated) {
      rc = seccomp_rule_add_array(ctx, r->action, nr, r->nargs, r->args);
    } else {
      rc = 0;
      for (unsigned a = 0; a < r->nargs && rc >= 0; a++) rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &r->args[a]);
    }
    if (rc < 0) die("exec failed: seccomp: cannot add a rule for %s: %s", r->syscall, strerror(-rc));
  }
  int mem = memfd_create("berth-exec-bpf", MFD_CLOEXEC);
  if (mem < 0) die("exec failed: memfd_create: %s", strerror(errno));
  int rc = seccomp_export_bpf(ctx, mem);
  if (rc < 0) die("exec failed: seccomp: cannot build the filter: %s", strerror(-rc));
  seccomp_release(ctx);
  if (read_all(mem, &b, &len) < 0) die("exec failed: seccomp: cannot read the built filter");
  close(mem);
  b = with_enosys_stub(b, &len);
  use_program(b, len);
  if (p.bpf_cache) {
    // Written whole under another name, then renamed: readers never see half a program.
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.%d", p.bpf_cache, getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      int ok = write(fd, b, len) == (ssize_t)len;
      close(fd);
      if (!ok || rename(tmp, p.bpf_cache) < 0) unlink(tmp);
    }
  }
}

static void load_seccomp(void) {
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) < 0) die("exec failed: seccomp: cannot load the filter: %s", strerror(errno));
}

static void drop_bounding(void) {
  // Bounding set first, while CAP_SETPCAP is still held.
  for (int cap = 0; cap < 64; cap++) {
    if (p.bounding & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die("exec failed: drop capability %d: %s", cap, strerror(errno));
  }
}

static void chdir_failed(void) {
  die("exec failed: unable to start container process: chdir to cwd (\"%s\") set in config.json failed: %s", p.cwd, strerror(errno));
}

// As runc: the working directory is entered as root when it can be (a
// directory the user cannot search still works), else again as the user.
static void set_user_cwd_and_caps(void) {
  int cwd_done = chdir(p.cwd) == 0;
  if (!cwd_done && errno != EACCES && errno != EPERM) chdir_failed();
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die("exec failed: keepcaps: %s", strerror(errno));
  if (setgroups(p.ngroups, p.groups) < 0) die("exec failed: setgroups: %s", strerror(errno));
  if (setresgid(p.gid, p.gid, p.gid) < 0) die("exec failed: setgid %u: %s", p.gid, strerror(errno));
  if (setresuid(p.uid, p.uid, p.uid) < 0) die("exec failed: setuid %u: %s", p.uid, strerror(errno));
  if (!cwd_done && chdir(p.cwd) < 0) chdir_failed();
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) die("exec failed: keepcaps: %s", strerror(errno));
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {
      {(uint32_t)p.effective, (uint32_t)p.permitted, (uint32_t)p.inheritable},
      {(uint32_t)(p.effective >> 32), (uint32_t)(p.permitted >> 32), (uint32_t)(p.inheritable >> 32)},
  };
  if (syscall(SYS_capset, &hdr, data) < 0) die("exec failed: capset: %s", strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die("exec failed: ambient capabilities: %s", strerror(errno));
  for (int cap = 0; cap < 64; cap++) {
    if (!(p.ambient & (1ULL << cap))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EINVAL) die("exec failed: raise ambient capability %d: %s", cap, strerror(errno));
  }
}

static const char *env_path(void) {
  for (unsigned i = 0; i < p.nenv; i++)
    if (!strncmp(p.env[i], "PATH=", 5)) return p.env[i] + 5;
  return NULL;
}

// The program to run: args[0] itself when it names a path, else the first
// executable regular file of that name along the process's own PATH.
static const char *look_path(const char *name) {
  static char candidate[4096];
  if (strchr(name, '/')) return name;
  const char *path = env_path();
  if (path) {
    for (const char *dir = path;;) {
      const char *colon = strchr(dir, ':');
      size_t len = colon ? (size_t)(colon - dir) : strlen(dir);
      int n = len ? snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, dir, name) : snprintf(candidate, sizeof candidate, "./%s", name);
      struct stat st;
      if (n > 0 && n < (int)sizeof candidate && stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) return candidate;
      if (!colon) break;
      dir = colon + 1;
    }
  }
  die("exec failed: unable to start container process: exec: \"%s\": executable file not found in $PATH", name);
  return NULL;
}

// The container's cgroup files, opened on the host before the helper enters
// the container's mount namespace: -1 where the container has none.
static int cgroup_fd[33];

static int open_cgroup_file(const char *dir, const char *file) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) die("exec failed: join cgroup %s: %s", dir, strerror(errno));
  return fd;
}

// Writes "0" (the writer) into an opened cgroup file: 1 when joined, 0 when
// the cgroup went away meanwhile.
static int join(int fd, const char *dir) {
  if (fd < 0) return 0;
  if (write(fd, "0", 1) == 1) return close(fd), 1;
  if (errno != ENOENT && errno != ENODEV) die("exec failed: join cgroup %s: %s", dir, strerror(errno));
  return close(fd), 0;
}

static void become(int cgroupns, int in_v2_cgroup) {
  // The container's v1 cgroups, through `tasks`: a single-threaded process
  // moving itself by its thread skips the kernel's global lock that every
  // cgroup.procs write takes (an RCU grace period, up to tens of ms on a
  // loaded host). The v2 cgroup was entered at clone (CLONE_INTO_CGROUP) or
  // is joined here. The files were opened on the host (this process is
  // already in the container's mount namespace); a hierarchy where the
  // container has no cgroup is skipped; none at all means it is gone.
  unsigned joined = in_v2_cgroup;
  for (unsigned i = 0; i < p.ncgroups_v1; i++) joined += join(cgroup_fd[i], p.cgroups_v1[i]);
  if (p.cgroup_v2 && !in_v2_cgroup) joined += join(cgroup_fd[32], p.cgroup_v2);
  else if (cgroup_fd[32] >= 0) close(cgroup_fd[32]);
  if ((p.ncgroups_v1 || p.cgroup_v2) && !joined) die("exec failed: the container has no cgroup left");
  // The cgroup namespace after the cgroups: its root must not hide them.
  if (cgroupns >= 0 && setns(cgroupns, CLONE_NEWCGROUP) < 0) die("exec failed: join cgroup namespace: %s", strerror(errno));
  if (cgroupns >= 0) close(cgroupns);
  for (unsigned i = 0; i < p.nrlimits; i++) {
    struct rlimit rl = {p.rlimits[i].soft, p.rlimits[i].hard};
    if (setrlimit(p.rlimits[i].resource, &rl) < 0) die("exec failed: error setting rlimit %d: %s", p.rlimits[i].resource, strerror(errno));
  }
  if (p.seccomp && !p.nnp) load_seccomp(); // needs CAP_SYS_ADMIN: before the capabilities go
  drop_bounding();
  set_user_cwd_and_caps();
  // Dies with the helper: a health check past its timeout ends the helper
  // with SIGKILL when SIGTERM was not enough, and Docker kills the process
  // itself then. Set after the user change, which clears it; best effort (a
  // seccomp profile may refuse prctl).
  (void)!prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (p.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("exec failed: no_new_privs: %s", strerror(errno));
  if (p.seccomp && p.nnp) load_seccomp();
  const char *file = look_path(p.args[0]);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(file, p.args, p.env);
  die("exec failed: unable to start container process: exec %s: %s", file, strerror(errno));
}

// ---- outside: fork, forward signals, report the status ----------------------

static volatile pid_t child;

static void forward(int sig) {
  if (child > 0) kill(child, sig);
}

// The process shows in the container's pid namespace before it executes the
// command: a container process allowed to ptrace could open its
// /proc/PID/exe and, once no helper runs the file, write the host's binary
// (CVE-2019-5736). As runc does, the helper runs from a sealed copy in
// memory instead (a spare is started ahead, so this costs an exec nothing).
static void run_from_sealed_copy(char **argv) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) die("berth-exec: open /proc/self/exe: %s", strerror(errno));
  int seals = fcntl(self, F_GET_SEALS);
  if (seals >= 0 && (seals & F_SEAL_WRITE)) {
    close(self);
    return; // the copy
  }
  struct stat st;
  int mem = memfd_create("berth-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mem < 0 || fstat(self, &st) < 0) die("berth-exec: memfd_create: %s", strerror(errno));
  for (off_t off = 0; off < st.st_size;) {
    ssize_t n = sendfile(mem, self, &off, st.st_size - off);
    if (n <= 0) die("berth-exec: copy itself: %s", n < 0 ? strerror(errno) : "short file");
  }
  if (fcntl(mem, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) die("berth-exec: seal: %s", strerror(errno));
  extern char **environ;
  fexecve(mem, argv, environ);
  die("berth-exec: run the sealed copy: %s", strerror(errno));
}

int main(int argc, char **argv) {
  if (argc != 1) die("usage: berth-exec 3>errors 4<plan");
  // Before anything else: fds 3 and 4 pass to the copy.
  run_from_sealed_copy(argv);
  prctl(PR_SET_NAME, "berth-exec", 0, 0, 0); // (not "memfd:berth-exe" in ps)
  if (fcntl(ERR_FD, F_SETFD, FD_CLOEXEC) < 0) die("berth-exec: fd 3 must be open for errors");
  // Not dumpable: the container cannot open /proc/<pid>/exe of this binary
  // while the process is being set up in its pid namespace.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die("berth-exec: prctl: %s", strerror(errno));
  read_plan();
  if (p.seccomp) compile_seccomp();

  // Every namespace is held open before the pid is checked.
  int nsfd[8], cgroupns = -1;
  char path[64];
  for (unsigned i = 0; i < p.nns; i++) {
    snprintf(path, sizeof path, "/proc/%d/ns/%s", p.pid, p.ns[i]);
    nsfd[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd[i] < 0) die("exec failed: container process %d is gone: %s", p.pid, strerror(errno));
  }
  snprintf(path, sizeof path, "/proc/%d/ns/pid", p.pid);
  int pidns = open(path, O_RDONLY | O_CLOEXEC);
  if (pidns < 0) die("exec failed: container process %d is gone: %s", p.pid, strerror(errno));
  // The pid came from a pid file: make sure it is still the container's
  // process (in its cgroup) and not a host process that reused the number,
  // now that its namespaces are held open.
  if (p.init_cgroup) {
    snprintf(path, sizeof path, "/proc/%d/cgroup", p.pid);
    char cg[16384], needle[4200];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, cg, sizeof cg - 1);
    if (fd >= 0) close(fd);
    snprintf(needle, sizeof needle, ":%s\n", p.init_cgroup);
    if (n <= 0 || (cg[n] = '\0', !strstr(cg, needle))) die("exec failed: container process %d is gone", p.pid);
  }

  // What needs the host's file system, while it is in view: the cgroup
  // files and the oom score (inherited by the process).
  for (unsigned i = 0; i < p.ncgroups_v1; i++) cgroup_fd[i] = open_cgroup_file(p.cgroups_v1[i], "tasks");
  cgroup_fd[32] = p.cgroup_v2 ? open_cgroup_file(p.cgroup_v2, "cgroup.procs") : -1;
  int cgfd = p.cgroup_v2 ? open(p.cgroup_v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (p.has_oom) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, p.oom, strlen(p.oom)) < 0) die("exec failed: oom_score_adj: %s", strerror(errno));
    close(fd);
  }
  // The namespaces are joined here, before the fork, not by the process:
  // it shows in the container's pid namespace from its first instant, and
  // a container process allowed to ptrace could then open its
  // /proc/PID/root (the host's root until a setns of the mount namespace)
  // or read its /proc/PID/net and mountinfo. The mount namespace comes last
  // (it moves root and cwd into the container); the cgroup namespace is
  // left to the process (CLONE_INTO_CGROUP checks against the caller's).
  if (setns(pidns, CLONE_NEWPID) < 0) die("exec failed: join pid namespace of %d: %s", p.pid, strerror(errno));
  close(pidns);
  for (unsigned i = 0; i < p.nns; i++) {
    if (!strcmp(p.ns[i], "cgroup")) {
      cgroupns = nsfd[i];
      continue;
    }
    if (setns(nsfd[i], 0) < 0) die("exec failed: join %s namespace: %s", p.ns[i], strerror(errno));
    close(nsfd[i]);
  }

  static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  // Straight into the container's v2 cgroup where the kernel can (5.7+).
  int in_v2 = 0;
  pid_t pid = -1;
  if (cgfd >= 0) {
    struct clone_args args = {0};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = cgfd;
    pid = syscall(SYS_clone3, &args, sizeof args);
    in_v2 = pid >= 0;
  }
  if (pid < 0) pid = fork();
  if (pid < 0) die("exec failed: fork: %s", strerror(errno));
  if (pid == 0) {
    if (cgfd >= 0) close(cgfd);
    become(cgroupns, in_v2);
  }
  child = pid;
  if (cgfd >= 0) close(cgfd);
  if (cgroupns >= 0) close(cgroupns);
  for (unsigned i = 0; i < p.ncgroups_v1; i++)
    if (cgroup_fd[i] >= 0) close(cgroup_fd[i]);
  if (cgroup_fd[32] >= 0) close(cgroup_fd[32]);
  close(ERR_FD);
  struct sigaction sa = {0};
  sa.sa_handler = forward;
  for (unsigned i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);

  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 126;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
