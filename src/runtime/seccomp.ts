// Berth's default seccomp profile: an allow list with the effect of Docker
// Engine's default. Anything not named here fails with EPERM, except calls
// newer than every one named here (or than libseccomp knows): those fail with
// ENOSYS, as runc and berth-exec both answer, so that programs fall back to
// older calls. Calls that need a capability are allowed only
// when the container holds it; new namespaces through clone(2) need
// CAP_SYS_ADMIN; personality(2) only switches between the harmless domains.
// Written as Berth's own groups and expanded into Docker's profile shape, so
// that the default and a client's seccomp=FILE go through one resolver.
import type { OciSeccomp } from './oci-types.ts';
import { resolveProfile, type ProfileRule, type ProfileTarget, type SeccompProfile } from './seccomp-profile.ts';

const EPERM = 1;
const ENOSYS = 38;

const words = (s: string) => s.trim().split(/\s+/);

/** Allowed for every container, grouped by what they touch. */
const ALLOWED = {
  files: words(`
    _llseek access cachestat chdir chmod chown chown32 close close_range copy_file_range creat dup dup2 dup3
    faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown
    fchown32 fchownat fcntl fcntl64 fdatasync flock fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
    ftruncate64 futimesat getcwd getdents getdents64 lchown lchown32 link linkat listmount lseek lstat lstat64
    mkdir mkdirat mknod mknodat name_to_handle_at newfstatat open openat openat2 pread64 preadv preadv2 pwrite64
    pwritev pwritev2 read readahead readlink readlinkat readv rename renameat renameat2 rmdir sendfile sendfile64
    splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs tee truncate
    truncate64 umask unlink unlinkat utime utimensat utimensat_time64 utimes vmsplice write writev`),
  xattrs: words(`
    fgetxattr flistxattr fremovexattr fsetxattr getxattr getxattrat lgetxattr listxattr listxattrat llistxattr
    lremovexattr lsetxattr removexattr removexattrat setxattr setxattrat`),
  waiting: words(`
    _newselect epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
    epoll_wait_old eventfd eventfd2 inotify_add_watch inotify_init inotify_init1 inotify_rm_watch poll ppoll
    ppoll_time64 pselect6 pselect6_time64 select signalfd signalfd4 timerfd_create timerfd_gettime
    timerfd_gettime64 timerfd_settime timerfd_settime64`),
  // Linux AIO; io_uring stays out (Docker dropped it: a large attack surface that seccomp cannot see into).
  aio: words('io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit'),
  ipc: words(`
    ipc memfd_create mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
    mq_timedsend_time64 mq_unlink msgctl msgget msgrcv msgsnd pipe pipe2 semctl semget semop semtimedop
    semtimedop_time64 shmat shmctl shmdt shmget`),
  // socket(2) itself is below, filtered by address family.
  sockets: words(`
    accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom recvmmsg recvmmsg_time64
    recvmsg send sendmmsg sendmsg sendto setsockopt shutdown socketcall socketpair`),
  signals: words(`
    alarm getitimer kill pause pidfd_send_signal restart_syscall rt_sigaction rt_sigpending rt_sigprocmask
    rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
    setitimer sigaltstack sigprocmask sigreturn tgkill tkill`),
  // Reading clocks and timers; adjtimex/clock_adjtime only change the clock with CAP_SYS_TIME (the kernel checks).
  time: words(`
    adjtimex clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
    clock_nanosleep clock_nanosleep_time64 gettimeofday nanosleep time timer_create timer_delete timer_getoverrun
    timer_gettime timer_gettime64 timer_settime timer_settime64 times`),
  identity: words(`
    capget capset getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getresgid getresgid32
    getresuid getresuid32 getuid getuid32 setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups
    setgroups32 setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setuid
    setuid32`),
  memory: words(`
    brk madvise map_shadow_stack membarrier memfd_secret mincore mlock mlock2 mlockall mmap mmap2 mprotect mremap
    mseal msync munlock munlockall munmap pkey_alloc pkey_free pkey_mprotect remap_file_pages`),
  scheduling: words(`
    getcpu getpriority ioprio_get ioprio_set sched_get_priority_max sched_get_priority_min sched_getaffinity
    sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
    sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield setpriority`),
  processes: words(`
    execve execveat exit exit_group fork futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake
    get_robust_list get_thread_area getpgid getpgrp getpid getppid getrandom getrlimit getrusage getsid gettid
    ioctl landlock_add_rule landlock_create_ruleset landlock_restrict_self pidfd_open prctl prlimit64
    process_mrelease riscv_hwprobe rseq seccomp set_robust_list set_thread_area set_tid_address setpgid setrlimit
    setsid sysinfo ugetrlimit uname uretprobe vfork wait4 waitid waitpid`),
};

/** Calls allowed only on some architectures (libseccomp names). */
const ARCH_ONLY: [string[], string[]][] = [
  [['amd64', 'x32'], ['arch_prctl']],
  [['amd64', 'x32', 'x86'], ['modify_ldt']],
  [['arm', 'arm64'], ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls']],
  [['ppc64le'], ['sync_file_range2', 'swapcontext']],
  [['s390', 's390x'], ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr']],
  [['riscv64'], ['riscv_flush_icache']],
];

/** Calls allowed when the container holds the capability. */
const CAP_GATED: [string, string[]][] = [
  ['CAP_SYS_ADMIN', words(`
    bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr
    lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl
    quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare`)],
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
  ['CAP_SYS_BOOT', ['reboot']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace']],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
  ['CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node']],
  ['CAP_SYSLOG', ['syslog']],
  ['CAP_BPF', ['bpf']],
  ['CAP_PERFMON', ['perf_event_open']],
];

// Namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

// personality(2) domains: PER_LINUX, PER_LINUX32, UNAME26 alone and with PER_LINUX32, and 0xffffffff (a query).
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

// Address families refused to socket(2): AF_ALG (kernel crypto) and AF_VSOCK (host-guest sockets).
const AF_ALG = 38;
const AF_VSOCK = 40;

const allow = (names: string[], extra: Partial<ProfileRule> = {}): ProfileRule => ({ names, action: 'SCMP_ACT_ALLOW', ...extra });
const arg0 = (op: string, value: number) => ({ args: [{ index: 0, value, op }] });

/** Berth's default, in Docker's profile format (every caps/arch/kernel condition still open). */
export function defaultProfile(): SeccompProfile {
  const syscalls: ProfileRule[] = [allow(Object.values(ALLOWED).flat())];
  // ptrace without CAP_SYS_PTRACE: safe once the kernel checks seccomp after ptrace (4.8).
  syscalls.push(allow(['process_vm_readv', 'process_vm_writev', 'ptrace'], { includes: { minKernel: '4.8' } }));
  syscalls.push(allow(['socket'], arg0('SCMP_CMP_LT', AF_ALG)));
  for (let family = AF_ALG + 1; family < AF_VSOCK; family++) syscalls.push(allow(['socket'], arg0('SCMP_CMP_EQ', family)));
  syscalls.push(allow(['socket'], arg0('SCMP_CMP_GT', AF_VSOCK)));
  for (const p of PERSONALITIES) syscalls.push(allow(['personality'], arg0('SCMP_CMP_EQ', p)));
  for (const [arches, names] of ARCH_ONLY) syscalls.push(allow(names, { includes: { arches } }));
  for (const [cap, names] of CAP_GATED) syscalls.push(allow(names, { includes: { caps: [cap] } }));
  // Without CAP_SYS_ADMIN: clone(2) only when no namespace flag is set (s390 swaps clone's first two arguments).
  const cloneArgs = (index: number) => ({ args: [{ index, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
  syscalls.push(allow(['clone'], { ...cloneArgs(0), excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] } }));
  syscalls.push(allow(['clone'], { ...cloneArgs(1), includes: { arches: ['s390', 's390x'] }, excludes: { caps: ['CAP_SYS_ADMIN'] } }));
  // clone3 keeps its flags in memory where seccomp cannot look: ENOSYS makes libcs fall back to clone(2).
  syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } });
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
      { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
      { architecture: 'SCMP_ARCH_PPC64LE', subArchitectures: null },
      { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: null },
    ],
    syscalls,
  };
}

/** The default filter for a container with these (bounding) capabilities, on this machine. */
export function defaultSeccompProfile(capabilities: string[], target: Omit<ProfileTarget, 'capabilities'> = {}): OciSeccomp {
  return resolveProfile(defaultProfile(), { ...target, capabilities })!;
}
