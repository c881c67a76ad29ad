import type { Command } from 'commander';
import { devBanner, devConfig } from '../dev.js';
import { UsageError } from '../shared.js';

function port(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag}: expected 1-65535, got "${value}"`);
  return n;
}

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('run everything on embedded defaults: auth server, gateway, a demo microservice, SQLite in ./.drawbridge')
    .option('--dir <dir>', 'state directory', './.drawbridge')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'auth server port', '9000')
    .option('--gateway-port <port>', 'gateway port', '8000')
    .option('--admin-port <port>', 'gateway admin API port', '8001')
    .option('--service-port <port>', 'demo microservice port', '7001')
    .action(async function dev(opts: { dir: string; host: string; port: string; gatewayPort: string; adminPort: string; servicePort: string }) {
      const cfg = devConfig({
        dir: opts.dir,
        host: opts.host,
        port: port('--port', opts.port),
        gatewayPort: port('--gateway-port', opts.gatewayPort),
        adminPort: port('--admin-port', opts.adminPort),
        servicePort: port('--service-port', opts.servicePort),
      });
      const { run } = await import('../run.js');
      const { stopOnSignals } = await import('../signals.js');
      const { startDemoService } = await import('../../../examples/demo-service.js');
      const service = await startDemoService({ names: cfg.gateway!.services.map((svc) => svc.name), issuer: cfg.issuer, host: opts.host, port: Number(opts.servicePort) });
      const running = await run(cfg, { dev: true }).catch(async (err: unknown) => {
        // a port taken: the demo service must not keep listening, or the failed command never exits
        await service.close();
        throw err;
      });
      const close = running.close.bind(running);
      running.close = async () => {
        await close();
        await service.close();
      };
      stopOnSignals(running);
      process.stdout.write(devBanner(cfg, service.url, opts.dir));
    });
}
