// Entry point of the `drawbridge` command (bin/drawbridge.js imports this module).
import { main } from './program.js';

const code = await main(process.argv);
// long-running commands (dev, start) keep the process alive through their listeners
if (code !== 0) process.exitCode = code;
