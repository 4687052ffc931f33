// Variable names that change how programs are loaded or how shells and interpreters start.
// Injecting one of them from a vault turns "read a secret" into "run code", so `run` refuses
// them unless --allow-dangerous NAME, and `set`/`import` warn. See docs/SECURITY.md.
import { warn } from './output';

const EXACT = new Set([
  // dynamic loader (glibc, musl)
  'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'LD_DEBUG', 'LD_DEBUG_OUTPUT', 'LD_PROFILE', 'LD_ORIGIN_PATH',
  'LD_BIND_NOW', 'LD_DYNAMIC_WEAK', 'LD_SHOW_AUXV', 'LD_USE_LOAD_BIAS', 'GCONV_PATH', 'HOSTALIASES', 'LOCPATH',
  'MALLOC_TRACE', 'NLSPATH', 'RESOLV_HOST_CONF', 'RES_OPTIONS', 'TMPDIR', 'TZDIR',
  // shells
  'BASH_ENV', 'ENV', 'PROMPT_COMMAND', 'PS4', 'SHELLOPTS', 'BASHOPTS', 'IFS', 'CDPATH', 'GLOBIGNORE', 'ZDOTDIR', 'PATH', 'SHELL', 'HOME',
  // interpreters and runtimes that execute code or load modules from an environment variable
  'NODE_OPTIONS', 'NODE_PATH', 'NODE_REPL_EXTERNAL_MODULE', 'PERL5OPT', 'PERL5LIB', 'PERLLIB', 'PERL5DB',
  'PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONINSPECT', 'PYTHONBREAKPOINT', 'PYTHONUSERBASE',
  'RUBYOPT', 'RUBYLIB', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH',
  'GIT_EXEC_PATH', 'GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_ASKPASS', 'GIT_PAGER', 'GIT_EDITOR', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG_SYSTEM', 'GIT_TEMPLATE_DIR', 'GIT_EXTERNAL_DIFF',
  'SSH_ASKPASS', 'PAGER', 'EDITOR', 'VISUAL', 'BROWSER', 'LESSOPEN', 'LESSCLOSE', 'MANPAGER',
  'GOFLAGS', 'RUSTC_WRAPPER', 'RUSTFLAGS', 'CARGO_BUILD_RUSTC_WRAPPER', 'npm_config_script_shell', 'NPM_CONFIG_SCRIPT_SHELL',
  'OPENSSL_CONF', 'OPENSSL_ENGINES', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_EXTRA_CA_CERTS', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE',
]);

const PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_', 'GIT_CONFIG_KEY_', 'GIT_CONFIG_VALUE_'];

export function isDangerous(name: string): boolean {
  return EXACT.has(name) || PREFIXES.some((p) => name.startsWith(p));
}

export const DANGEROUS_NAMES = [...EXACT].sort();
export const DANGEROUS_PREFIXES = PREFIXES;

export function warnIfDangerous(name: string): void {
  if (isDangerous(name)) warn(`${name} changes how programs load or shells start; tvault run will refuse to inject it unless --allow-dangerous ${name}`);
}
