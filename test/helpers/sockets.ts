/**
 * Listening TCP sockets of a process, read from /proc (Linux): the inodes of its socket fds
 * matched against /proc/net/tcp and /proc/net/tcp6 entries in state LISTEN.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface Listener {
  /** Dotted IPv4, or IPv6 in full hex groups (IPv4-mapped shown as ::ffff:a.b.c.d). */
  address: string;
  port: number;
  family: 4 | 6;
}

function ipv4(hex: string): string {
  // /proc prints the address as a little-endian 32-bit word.
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

function ipv6(hex: string): string {
  // Four little-endian 32-bit words.
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

/** Every listening TCP socket in /proc/net/tcp{,6}, by socket inode. */
export function listeningSockets(): Map<string, Listener> {
  const out = new Map<string, Listener>();
  for (const [file, family] of [['/proc/net/tcp', 4], ['/proc/net/tcp6', 6]] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, , state] = [cols[1]!, cols[2]!, cols[3]!];
      if (state !== '0A') continue; // TCP_LISTEN
      const [addrHex, portHex] = local.split(':') as [string, string];
      out.set(cols[9]!, { address: family === 4 ? ipv4(addrHex) : ipv6(addrHex), port: Number.parseInt(portHex, 16), family });
    }
  }
  return out;
}

/** The listening TCP sockets owned by process `pid`. */
export function listenersOf(pid: number): Listener[] {
  const all = listeningSockets();
  const found: Listener[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    const listener = inode ? all.get(inode) : undefined;
    if (listener) found.push(listener);
  }
  return found;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string): boolean {
  return /^(::ffff:)?127\./.test(address) || address === '0:0:0:0:0:0:0:1';
}
