// The CLI's side of the dangerous-name rule: the warning `set` and `import` print. The rule
// itself (which names, checkInjectable) is in core: packages/core/src/dangerous-names.ts.
import { RESERVED_PREFIX, allowHint, isDangerous } from '@tvault/core/env-format';
import { warn } from './output';

export function warnIfDangerous(name: string): void {
  if (name.startsWith(RESERVED_PREFIX)) warn(`${name} is reserved for tvault itself; tvault run and tvault env will not pass it on`);
  else if (isDangerous(name))
    warn(
      `${name} makes programs load code or configuration from its value; tvault run and tvault env (shell, fish, github) will refuse it until you allow it with: ${allowHint([name])}`,
    );
}
