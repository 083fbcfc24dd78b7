// What the page's sections share with the app that holds them (types only): the live stream's
// state, and how a section reports a transfer it started or acted on.
import type { Transfer } from './api';

export type LiveState = 'connecting' | 'open' | 'closed';

/** event: the live stream; list: GET /api/transfers; start: the answer to send or get; action: to cancel or retry. */
export type TransferSource = 'event' | 'list' | 'start' | 'action';
export type UpsertTransfer = (t: Transfer, source?: TransferSource) => void;
