/** What bounds the uploads in progress in one API process. */
export interface UploadLimits {
  /** Uploads in progress at once (MAX_CONCURRENT_UPLOADS). */
  maxUploads: number;
  /** Uploads in progress at once for one owner, so one tenant cannot take every slot (MAX_CONCURRENT_UPLOADS_PER_OWNER). */
  maxPerOwner: number;
  /** Bytes the uploads in progress may declare together (MAX_UPLOAD_BYTES_IN_FLIGHT). */
  maxBytes: number;
  /** The largest upload accepted (MAX_UPLOAD_BYTES): what an upload that declares no length counts as. */
  maxUploadBytes: number;
}

/** An admitted upload: give it back once it has ended, whatever happened. */
export interface UploadTicket {
  release(): void;
}

/**
 * Admits uploads by what runs out when many arrive at once: bytes being received (each upload counts its declared
 * Content-Length, or the upload limit when it declares none), slots in all, and slots per owner. Many small uploads fit
 * side by side; a few huge ones, or one tenant's burst, wait their turn.
 */
export class UploadAdmission {
  private active = 0;
  private bytes = 0;
  private readonly byOwner = new Map<string, number>();

  constructor(private readonly limits: UploadLimits) {}

  /** A ticket, or why the upload must wait. */
  admit(owner: string, declaredBytes: number | undefined): UploadTicket | { refused: string } {
    const cost = Math.min(declaredBytes ?? this.limits.maxUploadBytes, this.limits.maxUploadBytes);
    const mine = this.byOwner.get(owner) ?? 0;
    if (this.active >= this.limits.maxUploads) {
      return { refused: `Too many uploads in progress (${this.limits.maxUploads}); retry shortly.` };
    }
    if (mine >= this.limits.maxPerOwner) {
      return { refused: `Too many uploads in progress for this owner (${this.limits.maxPerOwner}); retry shortly.` };
    }
    // One upload alone is always admitted when nothing else is in progress, whatever it declares.
    if (this.active > 0 && this.bytes + cost > this.limits.maxBytes) {
      return { refused: 'Uploads in progress hold too many bytes; retry shortly.' };
    }
    this.active++;
    this.bytes += cost;
    this.byOwner.set(owner, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.active--;
        this.bytes -= cost;
        const left = (this.byOwner.get(owner) ?? 1) - 1;
        if (left === 0) this.byOwner.delete(owner);
        else this.byOwner.set(owner, left);
      },
    };
  }
}
