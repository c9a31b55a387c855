import type { IncomingMessage } from 'node:http';

/** How slow an upload may be: at least `minBytesPerSecond`, measured over each `windowMs`. */
export interface UploadPace {
  windowMs: number;
  minBytesPerSecond: number;
}

/**
 * Cuts off an upload whose client sends fewer than `minBytesPerSecond` over a whole window (a stalled or trickling
 * client would otherwise hold an upload slot, and delay shutdown, for as long as it likes). Bytes are counted on the
 * socket; a window in which the server itself held the upload back (the request's buffer is full because storage is
 * slow) does not count against the client. `onTooSlow` runs once, before the socket is destroyed.
 */
export function watchUploadPace(req: IncomingMessage, pace: UploadPace, onTooSlow: () => void): () => void {
  const socket = req.socket;
  const needed = (pace.minBytesPerSecond * pace.windowMs) / 1000;
  let seen = socket.bytesRead;
  const timer = setInterval(() => {
    const received = socket.bytesRead - seen;
    seen = socket.bytesRead;
    const heldBack = req.readableLength > 0 || req.isPaused();
    if (received >= needed || heldBack) return;
    clearInterval(timer);
    onTooSlow();
    socket.destroy();
  }, pace.windowMs);
  timer.unref();
  return () => clearInterval(timer);
}
