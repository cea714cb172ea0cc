import type { Server } from 'node:net';
import { UsageError } from '../errors.js';

/**
 * Binds `server`, turning the usual failures into one line that says what to change (UsageError, exit 2): a port
 * in use, a port that needs privileges, an address that is not this machine's.
 */
export function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolvePromise, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new UsageError(`port ${port} is in use; choose another with --port`));
      else if (error.code === 'EACCES') reject(new UsageError(`port ${port} needs privileges this user does not have; choose one above 1023 with --port`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') reject(new UsageError(`cannot listen on ${host}: no such address on this machine`));
      else reject(error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
}
