/**
 * Escaping for each output language: every journal string goes through one of
 * these. Each also makes control characters visible (`\x1b`), so a report
 * shown with `cat` or printed by `faultline report` cannot drive a terminal.
 */
import { escapeControlChars } from '../core/control-chars.js';

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text and attribute values in HTML (and SVG inside it). */
export function escapeHtml(s: string): string {
  return escapeControlChars(s, { keepLines: true }).replace(/[&<>"']/g, (c) => HTML[c] ?? c);
}

/**
 * XML 1.0 text and attributes. Characters XML cannot carry at all (most C0
 * controls, lone surrogates, U+FFFE/FFFF) and those it discourages (DEL, C1)
 * become U+FFFD; tabs and newlines
 * in attributes become character references so a parser keeps them.
 */
export function escapeXml(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\u007E\u00A0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/[&<>"'\t\n\r]/g, (c) => {
      switch (c) {
        case '\t':
          return '&#9;';
        case '\n':
          return '&#10;';
        case '\r':
          return '&#13;';
        default:
          return HTML[c] ?? c;
      }
    });
}

/** XML element text: newlines kept as they are (readable), markup escaped, a carriage return as a reference. */
export function escapeXmlText(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\u007E\u00A0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/[&<>\r]/g, (c) => (c === '\r' ? '&#13;' : (HTML[c] ?? c)));
}

/**
 * Inline Markdown (GitHub flavour, table cells included): HTML is neutralised
 * (GitHub renders raw tags), Markdown punctuation is backslash-escaped, and a
 * line break cannot end the cell.
 */
export function escapeMarkdown(s: string): string {
  const text = s.replace(/\r?\n|\r/g, ' ');
  // Backslashes are escaped first so the visible control escapes (`\x1b`) keep theirs.
  return escapeControlChars(text.replace(/[\\`*_[\]|#~]/g, (c) => `\\${c}`)).replace(
    /[&<>]/g,
    (c) => HTML[c] ?? c,
  );
}
