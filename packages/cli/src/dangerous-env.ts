// Variable names that make a program load or run code, change where a shell finds its startup
// files and commands, or change whom a program trusts. Injecting one of them from a vault turns
// "read a secret" into "run code", so `run` and `env` (hence the shell hooks) refuse them unless
// --allow-dangerous NAME, and `set`/`import` warn. The list and the reasons are in
// docs/SECURITY.md; keep the two in step.
import { TvaultError } from '@tvault/core';
import { warn } from './output';

const GROUPS: Record<string, string[]> = {
  // glibc's own list of variables it ignores for setuid programs (UNSECURE_ENVVARS), and more
  // of the dynamic loader (every LD_* and DYLD_* is covered by a prefix below).
  loader: ['GCONV_PATH', 'GETCONF_DIR', 'GLIBC_TUNABLES', 'HOSTALIASES', 'LOCALDOMAIN', 'LOCPATH', 'MALLOC_TRACE', 'NIS_PATH',
    'NLSPATH', 'RESOLV_HOST_CONF', 'RES_OPTIONS', 'TMPDIR', 'TZDIR'],
  // What shells read at start-up, run at every prompt, or use to find commands and functions.
  shell: ['BASH_ENV', 'ENV', 'BASH_LOADABLES_PATH', 'PROMPT_COMMAND', 'PS0', 'PS1', 'PS2', 'PS3', 'PS4', 'PROMPT', 'PROMPT2', 'PROMPT3',
    'PROMPT4', 'RPROMPT', 'RPROMPT2', 'RPS1', 'RPS2', 'SPROMPT', 'prompt', 'SHELLOPTS', 'BASHOPTS', 'IFS', 'CDPATH', 'cdpath',
    'GLOBIGNORE', 'ZDOTDIR', 'FPATH', 'fpath', 'MODULE_PATH', 'module_path', 'path', 'NULLCMD', 'READNULLCMD', 'PATH', 'SHELL', 'HOME',
    'precmd_functions', 'preexec_functions', 'chpwd_functions', 'periodic_functions', 'zshaddhistory_functions', 'zshexit_functions',
    'aliases', 'galiases', 'saliases', 'functions', 'commands', 'options', 'builtins',
    'fish_function_path', 'fish_complete_path', 'fish_user_paths',
    // zsh: assigning these as root switches the shell to another user.
    'UID', 'EUID', 'GID', 'EGID', 'USERNAME'],
  // Interpreters and tools that load modules or run a command named by a variable.
  runtime: ['NODE_OPTIONS', 'NODE_PATH', 'NODE_REPL_EXTERNAL_MODULE', 'PERL5OPT', 'PERL5LIB', 'PERLLIB', 'PERL5DB',
    'PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONINSPECT', 'PYTHONBREAKPOINT', 'PYTHONUSERBASE', 'PYTHONWARNINGS',
    'RUBYOPT', 'RUBYLIB', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH', 'PHPRC', 'PHP_INI_SCAN_DIR',
    'LUA_PATH', 'LUA_CPATH', 'R_PROFILE', 'R_PROFILE_USER',
    'GIT_EXEC_PATH', 'GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_ASKPASS', 'GIT_PAGER', 'GIT_EDITOR', 'GIT_SEQUENCE_EDITOR', 'GIT_PROXY_COMMAND',
    'GIT_EXTERNAL_DIFF', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG_SYSTEM', 'GIT_CONFIG_PARAMETERS', 'GIT_CONFIG_COUNT', 'GIT_TEMPLATE_DIR',
    'SSH_ASKPASS', 'PAGER', 'EDITOR', 'VISUAL', 'BROWSER', 'LESSOPEN', 'LESSCLOSE', 'MANPAGER', 'SYSTEMD_PAGER',
    'GOFLAGS', 'RUSTC_WRAPPER', 'RUSTFLAGS', 'CARGO_BUILD_RUSTC_WRAPPER',
    'npm_config_script_shell', 'NPM_CONFIG_SCRIPT_SHELL', 'npm_config_node_options', 'NPM_CONFIG_NODE_OPTIONS',
    'npm_config_userconfig', 'NPM_CONFIG_USERCONFIG', 'npm_config_globalconfig', 'NPM_CONFIG_GLOBALCONFIG'],
  // Whom a program trusts for TLS, or which crypto engine it loads.
  trust: ['OPENSSL_CONF', 'OPENSSL_ENGINES', 'OPENSSL_MODULES', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_EXTRA_CA_CERTS', 'CURL_CA_BUNDLE',
    'REQUESTS_CA_BUNDLE', 'GIT_SSL_CAINFO'],
};

const EXACT = new Set(Object.values(GROUPS).flat());

/** Every name starting with one of these (loader variables, exported bash functions, git config, Lua init code). */
const PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_', 'GIT_CONFIG_KEY_', 'GIT_CONFIG_VALUE_', 'LUA_INIT'];

/** tvault's own variables never leave tvault: not into a child, not into a shell. */
export const RESERVED_PREFIX = 'TVAULT_';

export function isDangerous(name: string): boolean {
  return EXACT.has(name) || PREFIXES.some((p) => name.startsWith(p));
}

export const DANGEROUS_NAMES = [...EXACT].sort();
export const DANGEROUS_PREFIXES = PREFIXES;

export function warnIfDangerous(name: string): void {
  if (name.startsWith(RESERVED_PREFIX)) warn(`${name} is reserved for tvault itself; tvault run and tvault env will not pass it on`);
  else if (isDangerous(name)) warn(`${name} changes how programs load or shells start; tvault run and tvault env will refuse it unless --allow-dangerous ${name}`);
}

/**
 * Throws unless every name may be passed on: TVAULT_* never, a dangerous name only when the
 * user named it with --allow-dangerous.
 */
export function checkInjectable(names: string[], allowed: readonly string[] = []): void {
  const reserved = names.filter((n) => n.startsWith(RESERVED_PREFIX));
  if (reserved.length) throw new TvaultError(`refusing to pass on ${reserved.join(', ')}: names starting with ${RESERVED_PREFIX} are reserved for tvault itself`);
  const bad = names.filter((n) => isDangerous(n) && !allowed.includes(n));
  if (bad.length) {
    throw new TvaultError(
      `refusing to inject ${bad.join(', ')}: ${bad.length > 1 ? 'these change' : 'it changes'} how programs load or shells start; add --allow-dangerous ${bad[0]} if you mean it`,
    );
  }
}
