'use strict';
// Loader for the tvault native addon (see README.md).
// There is deliberately no JS fallback: the agent's peer-credential check must not
// silently degrade, so a missing or unloadable addon is a hard error (fail closed).
const path = require('node:path');

const addonPath = path.join(__dirname, 'build', 'Release', 'tvault_native.node');

function loadAddon() {
  try {
    return require(addonPath);
  } catch (cause) {
    const notBuilt = cause && cause.code === 'MODULE_NOT_FOUND';
    const err = new Error(
      notBuilt
        ? `tvault native addon is not built (${addonPath} is missing). Run \`npm ci\` at the repository root ` +
            '(it builds packages/native with node-gyp; needs python3, make and a C compiler).'
        : `tvault native addon failed to load from ${addonPath}: ${cause && cause.message}. ` +
            'Rebuild it with `npm ci` (or `npm rebuild @tvault/native`) for this Node version.',
      { cause },
    );
    err.code = notBuilt ? 'ERR_TVAULT_NATIVE_NOT_BUILT' : 'ERR_TVAULT_NATIVE_LOAD_FAILED';
    throw err;
  }
}

const addon = loadAddon();

/**
 * The file descriptor under a connected node:net Socket, for peerCred. Node has no public API for
 * it, so this is the one place in tvault that reaches into the socket's internal handle
 * (`_handle.fd`, present on Linux and macOS for unix sockets). -1 when there is none (a
 * destroyed socket, a Node that moved it): peerCred(-1) then throws, and the caller refuses the
 * peer (fail closed).
 */
function socketFd(socket) {
  const fd = socket && socket._handle && socket._handle.fd;
  return Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

module.exports = Object.freeze({
  peerCred: addon.peerCred,
  flockExclusive: addon.flockExclusive,
  harden: addon.harden,
  setCoreLimit: addon.setCoreLimit,
  scrubEnv: addon.scrubEnv,
  mlock: addon.mlock,
  munlock: addon.munlock,
  zero: addon.zero,
  sdNotify: addon.sdNotify,
  agentCall: addon.agentCall,
  agentConnect: addon.agentConnect,
  pipe: addon.pipe,
  sendFds: addon.sendFds,
  recvFds: addon.recvFds,
  ptySpawn: addon.ptySpawn,
  ptyResize: addon.ptyResize,
  ttySize: addon.ttySize,
  ttyRaw: addon.ttyRaw,
  ttySave: addon.ttySave,
  ttyRestore: addon.ttyRestore,
  waitPid: addon.waitPid,
  maskScan: addon.maskScan,
  pipeTune: addon.pipeTune,
  fdPoll: addon.fdPoll,
  fdPollSet: addon.fdPollSet,
  fdPollClose: addon.fdPollClose,
  unixListen: addon.unixListen,
  acceptor: addon.acceptor,
  acceptorSet: addon.acceptorSet,
  acceptorClose: addon.acceptorClose,
  fdRecv: addon.fdRecv,
  fdSendClose: addon.fdSendClose,
  fdClose: addon.fdClose,
  secretboxLib: addon.secretboxLib,
  secretboxOpenRows: addon.secretboxOpenRows,
  shellLines: addon.shellLines,
  socketFd,
});
