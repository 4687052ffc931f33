// Variable names that point a program at code or configuration it then obeys. The rule: a name
// is dangerous when its documented meaning is one of
//   - "load this library or module" or "search here for code" (the dynamic loader, an
//     interpreter's module path or startup file, a toolchain's home);
//   - "run this command" (an editor, pager, shell, askpass or wrapper a tool starts);
//   - "read your configuration from here" (a config file or directory: config files name
//     commands to run, e.g. git's core.pager, kubeconfig's exec plugins, AWS credential_process);
//   - "start the shell this way" (startup files, prompts, history and readline files);
//   - "trust this CA, engine or package source".
// Injecting one of them from a vault turns "read a secret" into "run code", so `run` and `env`
// (hence the shell hooks) refuse them unless --allow-dangerous NAME, and `set`/`import` warn.
// A family whose members are all config (npm_config_*, GIT_CONFIG*, YARN_*) is a prefix. The
// list and the reasons are in docs/SECURITY.md; keep the two in step.
import { TvaultError } from '@tvault/core';
import { warn } from './output';

const GROUPS: Record<string, string[]> = {
  // glibc's own list of variables it ignores for setuid programs (UNSECURE_ENVVARS), and more
  // of the dynamic loader (every LD_* and DYLD_* is covered by a prefix below).
  loader: [
    'GCONV_PATH',
    'GETCONF_DIR',
    'GLIBC_TUNABLES',
    'HOSTALIASES',
    'LOCALDOMAIN',
    'LOCPATH',
    'MALLOC_TRACE',
    'NIS_PATH',
    'NLSPATH',
    'RESOLV_HOST_CONF',
    'RES_OPTIONS',
    'TMPDIR',
    'TZDIR',
  ],
  // Where programs find their configuration (which names commands to run).
  config: [
    'XDG_CONFIG_HOME',
    'XDG_CONFIG_DIRS',
    'XDG_DATA_HOME',
    'XDG_DATA_DIRS',
    'KUBECONFIG',
    'AWS_CONFIG_FILE',
    'AWS_SHARED_CREDENTIALS_FILE',
    'DOCKER_CONFIG',
    'GNUPGHOME',
    'CLOUDSDK_CONFIG',
    'CURL_HOME',
    'WGETRC',
    'PSQLRC',
    'MYSQL_HOME',
    'SCREENRC',
    'VIMINIT',
    'GVIMINIT',
    'EXINIT',
    'VIMRUNTIME',
    'MYVIMRC',
    'EMACSLOADPATH',
    'LESSKEY',
    'LESSKEYIN',
    'LESSKEY_CONTENT',
    'GIT_DIR',
    'GIT_WORK_TREE',
    'GIT_COMMON_DIR',
    'PIP_CONFIG_FILE',
    'GOENV',
    'GEMRC',
    'IRBRC',
    'BUNDLE_GEMFILE',
    'MAKEFLAGS',
    'GNUMAKEFLAGS',
    'MFLAGS',
  ],
  // What shells read at start-up, run at every prompt, or use to find commands and functions.
  shell: [
    'BASH_ENV',
    'ENV',
    'BASH_LOADABLES_PATH',
    'PROMPT_COMMAND',
    'PS0',
    'PS1',
    'PS2',
    'PS3',
    'PS4',
    'PROMPT',
    'PROMPT2',
    'PROMPT3',
    'PROMPT4',
    'RPROMPT',
    'RPROMPT2',
    'RPS1',
    'RPS2',
    'SPROMPT',
    'prompt',
    'SHELLOPTS',
    'BASHOPTS',
    'IFS',
    'CDPATH',
    'cdpath',
    'GLOBIGNORE',
    'ZDOTDIR',
    'HISTFILE',
    'INPUTRC',
    'MAIL',
    'MAILPATH',
    'FCEDIT',
    'FPATH',
    'fpath',
    'MODULE_PATH',
    'module_path',
    'path',
    'NULLCMD',
    'READNULLCMD',
    'PATH',
    'SHELL',
    'HOME',
    'precmd_functions',
    'preexec_functions',
    'chpwd_functions',
    'periodic_functions',
    'zshaddhistory_functions',
    'zshexit_functions',
    'aliases',
    'galiases',
    'saliases',
    'functions',
    'commands',
    'options',
    'builtins',
    'fish_function_path',
    'fish_complete_path',
    'fish_user_paths',
    // zsh: assigning these as root switches the shell to another user.
    'UID',
    'EUID',
    'GID',
    'EGID',
    'USERNAME',
  ],
  // Interpreters and tools that load modules or run a command named by a variable.
  runtime: [
    'NODE_OPTIONS',
    'NODE_PATH',
    'NODE_REPL_EXTERNAL_MODULE',
    'PERL5OPT',
    'PERL5LIB',
    'PERLLIB',
    'PERL5DB',
    'PYTHONSTARTUP',
    'PYTHONPATH',
    'PYTHONHOME',
    'PYTHONINSPECT',
    'PYTHONBREAKPOINT',
    'PYTHONUSERBASE',
    'PYTHONWARNINGS',
    'RUBYOPT',
    'RUBYLIB',
    'JAVA_TOOL_OPTIONS',
    '_JAVA_OPTIONS',
    'JDK_JAVA_OPTIONS',
    'CLASSPATH',
    'PHPRC',
    'PHP_INI_SCAN_DIR',
    'LUA_PATH',
    'LUA_CPATH',
    'R_PROFILE',
    'R_PROFILE_USER',
    'R_LIBS',
    'R_LIBS_USER',
    'R_ENVIRON',
    'R_ENVIRON_USER',
    'TCLLIBPATH',
    'JULIA_DEPOT_PATH',
    'JULIA_LOAD_PATH',
    'ERL_LIBS',
    'ERL_AFLAGS',
    'ERL_ZFLAGS',
    'DOTNET_STARTUP_HOOKS',
    'CORECLR_PROFILER_PATH',
    'COR_PROFILER_PATH',
    'ELECTRON_RUN_AS_NODE',
    'JAVA_HOME',
    'GOROOT',
    'GOTOOLCHAIN',
    'CARGO_HOME',
    'RUSTUP_HOME',
    'RUSTC',
    'RUSTDOC',
    'RUSTC_WORKSPACE_WRAPPER',
    'CARGO_BUILD_RUSTC',
    'GEM_HOME',
    'GEM_PATH',
    'CONFIG_SHELL',
    'GIT_EXEC_PATH',
    'GIT_SSH',
    'GIT_SSH_COMMAND',
    'GIT_ASKPASS',
    'GIT_PAGER',
    'GIT_EDITOR',
    'GIT_SEQUENCE_EDITOR',
    'GIT_PROXY_COMMAND',
    'GIT_EXTERNAL_DIFF',
    'GIT_TEMPLATE_DIR',
    'SSH_ASKPASS',
    'SUDO_ASKPASS',
    'PAGER',
    'EDITOR',
    'VISUAL',
    'BROWSER',
    'LESSOPEN',
    'LESSCLOSE',
    'LESSEDIT',
    'MANPAGER',
    'SYSTEMD_PAGER',
    'SYSTEMD_EDITOR',
    'SUDO_EDITOR',
    'SVN_EDITOR',
    'HGEDITOR',
    'PSQL_EDITOR',
    'PSQL_PAGER',
    'GOFLAGS',
    'RUSTC_WRAPPER',
    'RUSTFLAGS',
    'CARGO_BUILD_RUSTC_WRAPPER',
  ],
  // Whom a program trusts for TLS, or which crypto engine it loads.
  trust: [
    'OPENSSL_CONF',
    'OPENSSL_ENGINES',
    'OPENSSL_MODULES',
    'SSL_CERT_FILE',
    'SSL_CERT_DIR',
    'NODE_EXTRA_CA_CERTS',
    'CURL_CA_BUNDLE',
    'REQUESTS_CA_BUNDLE',
    'GIT_SSL_CAINFO',
    'PIP_INDEX_URL',
    'PIP_EXTRA_INDEX_URL',
    'PIP_TRUSTED_HOST',
    'GOPROXY',
    'GOSUMDB',
    'GONOSUMDB',
    'GONOSUMCHECK',
    'GOINSECURE',
  ],
};

const EXACT = new Set(Object.values(GROUPS).flat());

/**
 * Every name starting with one of these: loader variables, exported bash functions, git's
 * config (GIT_CONFIG, _GLOBAL, _SYSTEM, _COUNT, _KEY_n, _VALUE_n, _PARAMETERS), Lua init code,
 * and yarn's settings (YARN_YARN_PATH runs a file).
 */
const PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_', 'GIT_CONFIG', 'LUA_INIT', 'YARN_'];

/** npm (and pnpm) read every npm_config_* in any case as a setting: script-shell, node-options, userconfig... */
const PREFIXES_ANY_CASE = ['npm_config_'];

/** tvault's own variables never leave tvault: not into a child, not into a shell. */
export const RESERVED_PREFIX = 'TVAULT_';

export function isDangerous(name: string): boolean {
  const lower = name.toLowerCase();
  return EXACT.has(name) || PREFIXES.some((p) => name.startsWith(p)) || PREFIXES_ANY_CASE.some((p) => lower.startsWith(p));
}

export const DANGEROUS_NAMES = [...EXACT].sort();
export const DANGEROUS_PREFIXES = [...PREFIXES, ...PREFIXES_ANY_CASE];

export function warnIfDangerous(name: string): void {
  if (name.startsWith(RESERVED_PREFIX)) warn(`${name} is reserved for tvault itself; tvault run and tvault env will not pass it on`);
  else if (isDangerous(name))
    warn(`${name} changes how programs load or shells start; tvault run and tvault env will refuse it unless --allow-dangerous ${name}`);
}

/**
 * Throws unless every name may be passed on: TVAULT_* never, a dangerous name only when the
 * user named it with --allow-dangerous.
 */
export function checkInjectable(names: string[], allowed: readonly string[] = []): void {
  const reserved = names.filter((n) => n.startsWith(RESERVED_PREFIX));
  if (reserved.length)
    throw new TvaultError(`refusing to pass on ${reserved.join(', ')}: names starting with ${RESERVED_PREFIX} are reserved for tvault itself`);
  const bad = names.filter((n) => isDangerous(n) && !allowed.includes(n));
  if (bad.length) {
    throw new TvaultError(
      `refusing to inject ${bad.join(', ')}: ${bad.length > 1 ? 'these change' : 'it changes'} how programs load or shells start; add --allow-dangerous ${bad[0]} if you mean it`,
    );
  }
}
