// A Docker-like default seccomp filter, written as a deny list: everything is
// allowed except the system calls Docker's default profile keeps from
// containers (kernel modules, reboot, kexec, keyrings, mount API, new user
// namespaces, clock setting, ...), each let through again when the container
// has the capability Docker ties it to. Docker's profile is an allow list of
// ~350 calls; this deny list is smaller to keep right and blocks the same
// well-known escape paths, but a syscall added to the kernel tomorrow is
// allowed here while Docker would refuse it.
import type { OciSeccomp, OciSeccompRule } from './oci-types.ts';

const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;

/** Calls denied unless the container has the capability (undefined: always denied). */
const DENIED: [string | undefined, string[]][] = [
  [undefined, [
    'add_key', 'keyctl', 'request_key', // kernel keyrings are not namespaced
    'nfsservctl', 'create_module', 'get_kernel_syms', 'query_module', 'uselib', 'ustat', 'sysfs', '_sysctl',
    'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  ]],
  ['CAP_SYS_ADMIN', [
    'mount', 'umount', 'umount2', 'pivot_root', 'setns', 'unshare', 'quotactl', 'quotactl_fd', 'lookup_dcookie',
    'fsopen', 'fsconfig', 'fsmount', 'fspick', 'open_tree', 'move_mount', 'mount_setattr', 'fanotify_init',
    'sethostname', 'setdomainname', 'swapon', 'swapoff', 'vm86', 'vm86old',
  ]],
  ['CAP_SYS_BOOT', ['reboot', 'kexec_load', 'kexec_file_load']],
  ['CAP_SYS_MODULE', ['init_module', 'finit_module', 'delete_module']],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_PTRACE', ['kcmp', 'process_vm_readv', 'process_vm_writev', 'userfaultfd', 'pidfd_getfd']],
  ['CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node', 'move_pages']],
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at', 'name_to_handle_at']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
  ['CAP_SYSLOG', ['syslog']],
  ['CAP_BPF', ['bpf']],
  ['CAP_PERFMON', ['perf_event_open']],
];

function architectures(): string[] {
  switch (process.arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    default:
      return [];
  }
}

export function defaultSeccompProfile(capabilities: string[]): OciSeccomp {
  const has = (cap: string) => capabilities.includes(cap);
  const denied: string[] = [];
  for (const [cap, calls] of DENIED) {
    if (cap === undefined || !has(cap)) denied.push(...calls);
    // CAP_SYS_ADMIN also covers bpf and perf_event_open, as in Docker's profile.
  }
  const sysAdmin = has('CAP_SYS_ADMIN');
  const finalDenied = sysAdmin ? denied.filter((c) => c !== 'bpf' && c !== 'perf_event_open') : denied;
  const syscalls: OciSeccompRule[] = [{ names: finalDenied, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }];
  if (!sysAdmin) {
    // New user namespaces through clone(2); clone3 hides its flags in memory,
    // so it answers ENOSYS and libcs fall back to clone.
    syscalls.push({
      names: ['clone'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: EPERM,
      args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: architectures(), syscalls };
}
