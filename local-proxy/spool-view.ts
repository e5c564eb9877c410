// What a reader needs of its spool. The spool implements it; the reader depends only on
// this, so spool.ts → spool-reader.ts is the one direction of import.

import type { Position } from './spool-record';
import type { Segment } from './spool-segment';

export interface SpoolView {
  readonly isClosed: boolean;
  /** samples appended since open (the delivery lanes' intake rate) */
  readonly appendedSamples: number;
  segmentAtOrAfter(id: number): Segment | undefined;
  segmentAfter(id: number): Segment | undefined;
  isCurrent(seg: Segment): boolean;
  hasSegment(seg: Segment): boolean;
  /** the end of what readers may see in seg (flushed bytes of the segment being written) */
  readableEnd(seg: Segment): number;
  /** a reader found corrupt data in seg from `from` on */
  skipCorrupt(seg: Segment, from: number, reader: string, why: string): void;
  /** persists cursors soon (coalesced) */
  scheduleCheckpoint(): void;
  bytesAfter(p: Readonly<Position>, written?: boolean): number;
  samplesAfter(p: Position): number;
  waitForData(ms: number, signal?: AbortSignal): Promise<void>;
}
