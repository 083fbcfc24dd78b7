// A QR code as one SVG path (qrcode-generator computes the modules; nothing is drawn through
// innerHTML). Node ids are upper-case base32 and dashes: QR's alphanumeric mode holds them compactly.
import qrcode from 'qrcode-generator';

export interface QrModules {
  size: number;
  /** An SVG path drawing every dark module as a 1×1 square, in module units. */
  path: string;
}

export function qrModules(text: string): QrModules {
  const qr = qrcode(0, 'M');
  qr.addData(text, /^[0-9A-Z $%*+\-./:]*$/.test(text) ? 'Alphanumeric' : 'Byte');
  qr.make();
  const size = qr.getModuleCount();
  let path = '';
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (!qr.isDark(r, c)) continue;
      // Runs of dark modules on a row become one rectangle.
      let run = 1;
      while (c + run < size && qr.isDark(r, c + run)) run++;
      path += `M${c} ${r}h${run}v1h-${run}z`;
      c += run - 1;
    }
  }
  return { size, path };
}
