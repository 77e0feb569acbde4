// Types of parley.js (hand-written; the module itself is plain JavaScript).

/** Text the heartbeat sends by default; `parley serve` answers it on every path. */
export const HEARTBEAT_MESSAGE: "__parley_ping__";
/** What `parley serve` answers HEARTBEAT_MESSAGE with; never delivered as a message. */
export const HEARTBEAT_REPLY: "__parley_pong__";

export const CONNECTING: 0;
export const OPEN: 1;
export const CLOSING: 2;
export const CLOSED: 3;

export type ReadyState = 0 | 1 | 2 | 3;
export type Awaitable<T> = T | Promise<T>;
export type UrlSource = string | URL | (() => Awaitable<string | URL>);
export type ProtocolsSource = string | string[] | undefined | (() => Awaitable<string | string[] | undefined>);
export type SendData = string | ArrayBufferLike | ArrayBufferView | Blob;

/** The fields of a close, real or parley's own (code 1006: "connect timeout", "heartbeat timeout"). */
export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
  /** The browser's CloseEvent, when the browser reported this close. */
  original?: CloseEvent;
}

export interface ParleySocketOptions {
  /** Subprotocols to offer, or a function returning them (or a Promise), called before every attempt. Default: none. */
  protocols?: ProtocolsSource;
  /** Decode every text message with JSON.parse. Default false. */
  json?: boolean;
  /** "blob" or "arraybuffer", as WebSocket.binaryType. Default "blob". */
  binaryType?: BinaryType;
  /** Smallest reconnection delay in ms. Default 1000. */
  minDelay?: number;
  /** Largest reconnection delay in ms. Default 30000. */
  maxDelay?: number;
  /** Growth of the delay window per attempt. Default 2. */
  factor?: number;
  /** Reconnection attempts before giving up ("maximum"). Default Infinity. */
  maxAttempts?: number;
  /** ms a connection must stay open before the attempt count resets. Default 5000. */
  minUptime?: number;
  /** ms a connection may take to open before it is given up (0: never). Default 10000. */
  connectTimeout?: number;
  /** Whether a close (not the page's own close()) reconnects. Default: defaultShouldReconnect. */
  shouldReconnect?: (close: CloseEvent | CloseInfo) => boolean;
  /** Messages held while not open. Default 1000. */
  queueSize?: number;
  /** What a send does on a full queue. Default "drop-oldest". */
  queueFull?: "drop-oldest" | "throw";
  /** ms between heartbeat messages (0: no heartbeat). Default 0. */
  heartbeatInterval?: number;
  /** ms without any message before the connection is given up. Default 2 × heartbeatInterval. */
  heartbeatTimeout?: number;
  /** What the heartbeat sends. Default HEARTBEAT_MESSAGE. */
  heartbeatMessage?: SendData;
  /** A text message that only proves the link alive and is not delivered (null: deliver all). Default HEARTBEAT_REPLY. */
  heartbeatReply?: string | null;
  /** Returns the CSRF token json() adds to objects. Default: none. */
  csrf?: () => string;
  /** The field json() puts the token in. Default "csrf". */
  csrfField?: string;
  /** Connect in the constructor. Default true; false: call reconnect(). */
  autoOpen?: boolean;
  /** For tests: the WebSocket constructor. Default globalThis.WebSocket. */
  WebSocket?: new (url: string, protocols?: string | string[]) => WebSocket;
  /** For tests: timers. Default the global ones. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (id: any) => void;
  /** For tests: a number in [0, 1). Default Math.random. */
  random?: () => number;
  /** For tests: what fires "online". Default globalThis (the window). */
  eventSource?: EventTarget;
}

export interface ParleyOpenEvent extends Event {}
export interface ParleyMessageEvent<T = any> extends Event {
  /** The message: decoded when json is on, else as received. */
  data: T;
  /** The message as received. */
  raw: string | ArrayBuffer | Blob;
  origin: string;
  original: MessageEvent;
}
export interface ParleyCloseEvent extends Event, CloseInfo {
  /** Whether a reconnection follows. */
  willReconnect: boolean;
}
export interface ParleyErrorEvent extends Event {
  /** The exception (a JSON SyntaxError, a URL provider's rejection, ...), or undefined for the socket's own error event. */
  error: unknown;
  /** For a JSON parse failure: the raw message. */
  data?: string;
  original?: Event | MessageEvent;
}
export interface ParleyReconnectingEvent extends Event {
  /** 1 for the first reconnection since the last stable connection. */
  attempt: number;
  /** ms until it. */
  delay: number;
}
export interface ParleyMaximumEvent extends Event {
  attempts: number;
}
export interface ParleyDropEvent extends Event {
  /** The dropped message (the value given to json() when json is true). */
  data: unknown;
  json: boolean;
}

export interface ParleySocketEventMap {
  open: ParleyOpenEvent;
  message: ParleyMessageEvent;
  close: ParleyCloseEvent;
  error: ParleyErrorEvent;
  reconnecting: ParleyReconnectingEvent;
  maximum: ParleyMaximumEvent;
  drop: ParleyDropEvent;
}

/** A listener of one ParleySocket event: a function or an object with handleEvent, as EventTarget takes. */
export type ParleySocketListener<K extends keyof ParleySocketEventMap> =
  | ((this: ParleySocket, ev: ParleySocketEventMap[K]) => any)
  | { handleEvent(ev: ParleySocketEventMap[K]): any };

/** The default shouldReconnect: true for 1001, 1006, 1011, 1012, 1013, 1014. */
export function defaultShouldReconnect(close: { code: number }): boolean;

/** The delay of reconnection attempt `attempt`: uniform in [minDelay, min(maxDelay, minDelay * factor ** attempt)]. */
export function backoffDelay(
  attempt: number,
  options: { minDelay: number; maxDelay: number; factor: number },
  random: () => number,
): number;

export class ParleyEvent extends Event {
  constructor(type: string, fields?: Record<string, unknown>);
  [field: string]: unknown;
}

export class ParleySocket extends EventTarget {
  constructor(url: UrlSource, options?: ParleySocketOptions);

  readonly readyState: ReadyState;
  readonly bufferedAmount: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly url: string;
  binaryType: BinaryType;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;

  /** Messages waiting for the next open connection. */
  readonly queued: number;
  /** The current or last reconnection attempt's number (0: none since the last stable connection). */
  readonly attempt: number;
  /** The native WebSocket of the current connection, or null. */
  readonly socket: WebSocket | null;

  /** Sends now (true) or queues for the next open connection (false). */
  send(data: SendData): boolean;
  /** Sends JSON.stringify(value), with the CSRF field added to objects when configured. */
  json(value: unknown): boolean;
  /** Closes and stops reconnecting. code: 1000 or 3000-4999. */
  close(code?: number, reason?: string): void;
  /** Connects again now (after maximum, after close(), or replacing the open connection). */
  reconnect(code?: number, reason?: string): void;

  onopen: ((this: ParleySocket, ev: ParleyOpenEvent) => any) | null;
  onmessage: ((this: ParleySocket, ev: ParleyMessageEvent) => any) | null;
  onclose: ((this: ParleySocket, ev: ParleyCloseEvent) => any) | null;
  onerror: ((this: ParleySocket, ev: ParleyErrorEvent) => any) | null;
  onreconnecting: ((this: ParleySocket, ev: ParleyReconnectingEvent) => any) | null;
  onmaximum: ((this: ParleySocket, ev: ParleyMaximumEvent) => any) | null;
  ondrop: ((this: ParleySocket, ev: ParleyDropEvent) => any) | null;

  // Only the events above: ParleySocket never fires any other, so a name
  // that is not one of them (a typo) is a type error, not a silent no-op.
  addEventListener<K extends keyof ParleySocketEventMap>(
    type: K,
    listener: ParleySocketListener<K> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof ParleySocketEventMap>(
    type: K,
    listener: ParleySocketListener<K> | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

export default ParleySocket;
