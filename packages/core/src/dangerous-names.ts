// The names tvault will not apply to a process unless the project allows them. The class, one
// rule: a name is blocked when, set in a program's environment, it makes that program load
// code, or configuration that can name code to run, from a path or string the variable gives,
// at start-up or in its ordinary non-interactive work; or makes it trust another source (a CA,
// a package index) for code it downloads. So LD_PRELOAD, NODE_OPTIONS, PYTHONSTARTUP,
// BASH_ENV, PERL5OPT, GIT_SSH_COMMAND, PATH, a shell's prompt strings (expanded with $(...)),
// config locations (git's config runs core.fsmonitor, kubeconfig exec plugins, AWS
// credential_process) are blocked. Not blocked: a program run only when the user asks for it
// (EDITOR, VISUAL, PAGER, BROWSER), a place for data (TMPDIR, TZDIR, LOCPATH, HISTFILE), an
// identity (USERNAME, USER). Names a shell cannot hold as a plain variable (USERNAME in zsh,
// RANDOM) are env-format.ts's business, for the shell formats only.
//
// Where: only where variables are applied to a process: `run`, and `env` in the shell, fish
// and github formats (hence the shell hooks and direnv, which eval `env --format shell`).
// Never in the data formats (dotenv, json, yaml) or `export`: nothing executes those.
// A project lets names through with `tvault allow-name NAME` (kept in the vault, MACed under
// the KEK, audited; see docs/FORMAT.md "Allowed names"); `--allow-dangerous NAME` does it for
// one invocation. The list and the reasons are in docs/SECURITY.md; keep the two in step.
// warnIfDangerous, which prints, stays in the CLI (packages/cli/src/dangerous-env.ts).
import { TvaultError } from './errors';

const GROUPS: Record<string, string[]> = {
  // The dynamic loader (every LD_* and DYLD_* is a prefix below); glibc loads gconv modules
  // from GCONV_PATH and runs getconf helpers from GETCONF_DIR.
  loader: ['GCONV_PATH', 'GETCONF_DIR'],
  // Where programs find configuration that names commands to run.
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
    'INPUTRC',
    'GIT_DIR',
    'GIT_COMMON_DIR',
    'GIT_TEMPLATE_DIR',
    'PIP_CONFIG_FILE',
    'GOENV',
    'GEMRC',
    'IRBRC',
    'BUNDLE_GEMFILE',
    'MAKEFLAGS',
    'GNUMAKEFLAGS',
    'MFLAGS',
  ],
  // What shells read at start-up, expand or run at every prompt, or search for commands.
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
    'MAILPATH',
    'ZDOTDIR',
    'FPATH',
    'fpath',
    'MODULE_PATH',
    'module_path',
    'NULLCMD',
    'READNULLCMD',
    'PATH',
    'path',
    'HOME',
    'precmd_functions',
    'preexec_functions',
    'chpwd_functions',
    'periodic_functions',
    'zshaddhistory_functions',
    'zshexit_functions',
    'fish_function_path',
    'fish_complete_path',
    'fish_user_paths',
  ],
  // Interpreters and toolchains that load modules, or run a compiler or wrapper, named here.
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
    'GOFLAGS',
    'CARGO_HOME',
    'RUSTUP_HOME',
    'RUSTC',
    'RUSTDOC',
    'RUSTC_WRAPPER',
    'RUSTC_WORKSPACE_WRAPPER',
    'RUSTFLAGS',
    'CARGO_BUILD_RUSTC',
    'CARGO_BUILD_RUSTC_WRAPPER',
    'GEM_HOME',
    'GEM_PATH',
    'CONFIG_SHELL',
  ],
  // Commands a tool runs by itself, without being asked to edit or page: git's transport,
  // askpass helpers (run when there is no terminal), less's input preprocessor.
  commands: [
    'GIT_EXEC_PATH',
    'GIT_SSH',
    'GIT_SSH_COMMAND',
    'GIT_ASKPASS',
    'GIT_PROXY_COMMAND',
    'GIT_EXTERNAL_DIFF',
    'SSH_ASKPASS',
    'SUDO_ASKPASS',
    'LESSOPEN',
    'LESSCLOSE',
  ],
  // Whom a program trusts for TLS or for packages, or which crypto engine it loads.
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
 * Every name starting with one of these: the dynamic loader, exported bash functions, git's
 * config (GIT_CONFIG, _GLOBAL, _SYSTEM, _COUNT, _KEY_n, _VALUE_n, _PARAMETERS), Lua init code,
 * and yarn's settings (YARN_YARN_PATH runs a file).
 */
const PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_', 'GIT_CONFIG', 'LUA_INIT', 'YARN_'];

/** npm (and pnpm) read every npm_config_* in any case as a setting: script-shell, node-options, userconfig... */
const PREFIXES_ANY_CASE = ['npm_config_'];

/** tvault's own variables never leave tvault: not into a child, not into a shell. */
export const RESERVED_PREFIX = 'TVAULT_';

/**
 * The prefixes as two anchored patterns: `env` of a large project checks every name, in a
 * process that runs this code once (cold, interpreted), where a loop of startsWith calls over
 * the lists cost ~6 ms of CPU for 1,000 names and the patterns a small part of it.
 */
const prefixPattern = (list: string[], flags = '') => new RegExp(`^(?:${list.map((p) => p.replace(/[^A-Za-z0-9_]/g, '\\$&')).join('|')})`, flags);
const PREFIX_RE = prefixPattern(PREFIXES);
const PREFIX_ANY_CASE_RE = prefixPattern(PREFIXES_ANY_CASE, 'i');

export function isDangerous(name: string): boolean {
  return EXACT.has(name) || PREFIX_RE.test(name) || PREFIX_ANY_CASE_RE.test(name);
}

export const DANGEROUS_NAMES = [...EXACT].sort();
export const DANGEROUS_PREFIXES = [...PREFIXES, ...PREFIXES_ANY_CASE];

/** The one way the refusal names to let names through: persistent, per project. */
export function allowHint(names: string[], project?: string): string {
  return `tvault allow-name${project ? ` -p ${project}` : ''} ${names.join(' ')}`;
}

/**
 * Throws unless every name may be applied to a process: TVAULT_* never, a dangerous name only
 * when the project allows it (`allowed`: its allow list plus any --allow-dangerous). One
 * message lists every blocked name and one command that allows them all.
 */
export function checkInjectable(names: string[], allowed: readonly string[] = [], project?: string): void {
  const reserved: string[] = [];
  const bad: string[] = [];
  for (const n of names) {
    if (n.startsWith(RESERVED_PREFIX)) reserved.push(n);
    else if (isDangerous(n) && !allowed.includes(n)) bad.push(n);
  }
  if (reserved.length)
    throw new TvaultError(`refusing to pass on ${reserved.join(', ')}: names starting with ${RESERVED_PREFIX} are reserved for tvault itself`);
  if (bad.length) {
    const they = bad.length > 1 ? 'they make' : 'it makes';
    throw new TvaultError(
      `refusing to inject ${bad.join(', ')}: ${they} programs load code or configuration from the value (docs/SECURITY.md); if you mean it, allow ${bad.length > 1 ? 'them' : 'it'} with: ${allowHint(bad, project)}`,
    );
  }
}
