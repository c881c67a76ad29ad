// A TCP proxy in front of the real PostgreSQL that a test can break on purpose, the way a
// database fails in production: `down()` cuts every connection and refuses new ones (the
// server stopped or crashed), `hang()` keeps connections open but passes nothing on (a
// server that stopped answering: SIGSTOP, a network partition), `up()` heals both. After a
// hang, the connections made before `up()` stay silent for good (open, never answered), as
// TCP connections across a partition often do: only new connections work again.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { migratedPostgresSchema } from '../helpers/services.js';

export interface FaultProxy {
  /** `target` with the proxy's host and port */
  url: string;
  down(): Promise<void>;
  hang(): void;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const to = new URL(target);
  const toHost = to.hostname || '127.0.0.1';
  const toPort = Number(to.port || 5432);
  const sockets = new Set<Socket>();
  /** client sockets whose bytes are swallowed, both ways */
  const silent = new WeakSet<Socket>();
  let hanging = false;
  let port = 0;
  let server: Server | undefined;

  const clients = new Set<Socket>();

  function onConnection(client: Socket): void {
    sockets.add(client);
    clients.add(client);
    client.on('close', () => {
      sockets.delete(client);
      clients.delete(client);
    });
    client.on('error', () => undefined);
    if (hanging) {
      silent.add(client); // accepted, never answered
      return;
    }
    const upstream = connect(toPort, toHost);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (d: Buffer) => void (silent.has(client) || upstream.write(d)));
    upstream.on('data', (d: Buffer) => void (silent.has(client) || client.write(d)));
  }

  async function listen(): Promise<void> {
    const srv = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    port = (srv.address() as { port: number }).port;
    server = srv;
  }

  async function stopListening(): Promise<void> {
    const srv = server;
    server = undefined;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (srv) await new Promise((resolve) => srv.close(resolve));
  }

  await listen();
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.href,
    down: stopListening,
    hang() {
      hanging = true;
      for (const s of clients) silent.add(s);
    },
    async up() {
      hanging = false;
      if (!server) await listen();
    },
    close: stopListening,
  };
}

/** A fresh, migrated PostgreSQL schema reached through a fault proxy; close() drops both. */
export interface FaultyDatabase {
  proxy: FaultProxy;
  /** the proxy's URL; with `timeouts`, the storage URL's connect_timeout (s) and query_timeout (ms) set */
  url(timeouts?: { connect: number; query: number }): string;
  close(): Promise<void>;
}

export async function faultyDatabase(base: string): Promise<FaultyDatabase> {
  const schema = await migratedPostgresSchema(base);
  const proxy = await startFaultProxy(schema.url);
  return {
    proxy,
    url(timeouts) {
      if (timeouts === undefined) return proxy.url;
      const url = new URL(proxy.url);
      url.searchParams.set('connect_timeout', String(timeouts.connect));
      url.searchParams.set('query_timeout', String(timeouts.query));
      return url.href;
    },
    async close() {
      await proxy.close();
      await schema.drop();
    },
  };
}
