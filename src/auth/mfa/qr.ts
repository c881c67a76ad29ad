// QR codes as inline SVG, generated in-process (no external service sees a TOTP secret).
// The `qrcode` package computes the module matrix; the SVG is drawn here: one path of
// horizontal runs of dark modules on a white background, with the 4-module quiet zone.
import { createRequire } from 'node:module';
import type QRCodeModule from 'qrcode';

// loaded on first use: only an enrolment draws a QR code, and the package (with its PNG
// writer) is as many modules as the rest of the login pages
let qrcode: typeof QRCodeModule | undefined;

interface QrSvgOptions {
  /** accessible name (`<title>`), e.g. "QR code for your authenticator app" */
  title?: string;
  /** error correction: M (15 %, default) suits screens */
  errorCorrection?: 'L' | 'M' | 'Q' | 'H';
  /** quiet zone in modules; default 4 (the minimum the standard asks for) */
  margin?: number;
}

/** An `<svg>` element (no XML declaration) that scales to its container. */
export function qrSvg(text: string, opts: QrSvgOptions = {}): string {
  qrcode ??= createRequire(import.meta.url)('qrcode') as typeof QRCodeModule;
  const { modules } = qrcode.create(text, { errorCorrectionLevel: opts.errorCorrection ?? 'M' });
  const margin = opts.margin ?? 4;
  const size = modules.size;
  const total = size + 2 * margin;
  const runs: string[] = [];
  for (let row = 0; row < size; row++) {
    let col = 0;
    while (col < size) {
      if (!modules.get(row, col)) {
        col++;
        continue;
      }
      const start = col;
      while (col < size && modules.get(row, col)) col++;
      runs.push(`M${start + margin} ${row + margin}h${col - start}v1h-${col - start}z`);
    }
  }
  const title = opts.title ? `<title>${escapeXml(opts.title)}</title>` : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${total} ${total}" shape-rendering="crispEdges" role="img">` +
    title +
    `<rect width="${total}" height="${total}" fill="#fff"/>` +
    `<path fill="#000" d="${runs.join('')}"/>` +
    '</svg>'
  );
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
