// A typed use of parley.d.ts, checked by `tsc --noEmit --strict` (ctest -L js,
// test js_types; tests/js/CMakeLists.txt has the command). It touches every
// option, event, method, property and export the declarations have, and each
// `@ts-expect-error` line is a misuse that must stay rejected (tsc fails on a
// directive that finds no error). Never run: it only has to type-check, and
// its statements are in a function nobody calls, so a test runner that picks
// the file up does nothing with it.
import ParleySocketDefault, {
  backoffDelay,
  CLOSED,
  CLOSING,
  CONNECTING,
  defaultShouldReconnect,
  HEARTBEAT_MESSAGE,
  HEARTBEAT_REPLY,
  OPEN,
  ParleyEvent,
  ParleySocket,
} from "../parley.js";
import type {
  Awaitable,
  CloseInfo,
  ParleyCloseEvent,
  ParleyDropEvent,
  ParleyErrorEvent,
  ParleyMaximumEvent,
  ParleyMessageEvent,
  ParleyOpenEvent,
  ParleyReconnectingEvent,
  ParleySocketEventMap,
  ParleySocketOptions,
  ProtocolsSource,
  ReadyState,
  SendData,
  UrlSource,
} from "../parley.js";

// Exact type equality: `is<Equal<A, B>>()` compiles only when A and B are the
// same type (so an `any` creeping into the declarations is caught too).
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function is<T extends true>(): void {}

// Every statement below only has to compile.
export function typedUses(): void {
  // ---- exports ----
  is<Equal<typeof ParleySocketDefault, typeof ParleySocket>>();
  is<Equal<typeof HEARTBEAT_MESSAGE, "__parley_ping__">>();
  is<Equal<typeof HEARTBEAT_REPLY, "__parley_pong__">>();
  is<Equal<[typeof CONNECTING, typeof OPEN, typeof CLOSING, typeof CLOSED], [0, 1, 2, 3]>>();
  is<Equal<ReturnType<typeof defaultShouldReconnect>, boolean>>();
  const delay: number = backoffDelay(3, { minDelay: 1000, maxDelay: 30000, factor: 2 }, Math.random);
  const custom = new ParleyEvent("custom", { n: 1 });
  const customEvent: Event = custom;
  const customField: unknown = custom["n"];
  new ParleyEvent("bare");

  // ---- the URL: a string, a URL, a function of either, or of a Promise of either ----
  const urls: UrlSource[] = [
    "wss://example.com/chat",
    new URL("wss://example.com/chat"),
    () => "wss://example.com/chat",
    () => new URL("wss://example.com/chat"),
    async () => "wss://example.com/chat?csrf=t",
    () => Promise.resolve(new URL("wss://example.com/chat")),
  ];
  const later: Awaitable<number> = Promise.resolve(1);

  // ---- every option ----
  const protocols: ProtocolsSource[] = ["chat", ["chat", "v2"], undefined, () => "chat", async () => ["a", "b"], () => undefined];
  const options: Required<ParleySocketOptions> = {
    protocols: async () => ["chat", "v2"],
    json: true,
    binaryType: "arraybuffer",
    minDelay: 500,
    maxDelay: 10000,
    factor: 1.5,
    maxAttempts: Infinity,
    minUptime: 5000,
    connectTimeout: 0,
    shouldReconnect: (close) => close.code !== 4000 && close.reason !== "bye" && close.wasClean === false,
    queueSize: 10,
    queueFull: "throw",
    heartbeatInterval: 15000,
    heartbeatTimeout: 30000,
    heartbeatMessage: HEARTBEAT_MESSAGE,
    heartbeatReply: null,
    csrf: () => "token",
    csrfField: "_csrf",
    autoOpen: false,
    WebSocket: WebSocket,
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (id) => globalThis.clearTimeout(id),
    random: Math.random,
    eventSource: new EventTarget(),
  };
  new ParleySocket(urls[0], {});
  new ParleySocket("ws://127.0.0.1/", {
    queueFull: "drop-oldest",
    binaryType: "blob",
    heartbeatMessage: new Uint8Array([1, 2]),
    heartbeatReply: "pong",
    shouldReconnect: defaultShouldReconnect,
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
  });
  const ws = new ParleySocket(async () => "wss://example.com/chat", options);

  // ---- properties ----
  is<Equal<typeof ws.readyState, ReadyState>>();
  const bufferedAmount: number = ws.bufferedAmount;
  const protocol: string = ws.protocol;
  const extensions: string = ws.extensions;
  const url: string = ws.url;
  ws.binaryType = "arraybuffer";
  const binaryType: BinaryType = ws.binaryType;
  is<Equal<[typeof ws.CONNECTING, typeof ws.OPEN, typeof ws.CLOSING, typeof ws.CLOSED], [0, 1, 2, 3]>>();
  const queued: number = ws.queued;
  const attempt: number = ws.attempt;
  const socket: WebSocket | null = ws.socket;
  if (ws.readyState === ws.OPEN) ws.send("open");

  // ---- methods ----
  const data: SendData[] = ["text", new ArrayBuffer(4), new Uint8Array(4), new DataView(new ArrayBuffer(2)), new Blob(["b"])];
  for (const d of data) is<Equal<ReturnType<typeof ws.send>, boolean>>(), ws.send(d);
  const sentJson: boolean = ws.json({ text: "hello" });
  ws.json([1, 2, 3]);
  ws.close();
  ws.close(4000, "bye");
  ws.reconnect();
  ws.reconnect(1000, "again");

  // ---- events, by listener and by on<type> property, with their fields ----
  const eventMap: (keyof ParleySocketEventMap)[] = ["open", "message", "close", "error", "reconnecting", "maximum", "drop"];
  ws.addEventListener("open", (e) => is<Equal<typeof e, ParleyOpenEvent>>());
  ws.addEventListener("message", function (e) {
    is<Equal<typeof this, ParleySocket>>();
    const decoded: any = e.data;
    const raw: string | ArrayBuffer | Blob = e.raw;
    const origin: string = e.origin;
    const original: MessageEvent = e.original;
  });
  ws.addEventListener("close", (e) => {
    is<Equal<typeof e, ParleyCloseEvent>>();
    const info: CloseInfo = e;
    const code: number = e.code;
    const reason: string = e.reason;
    const wasClean: boolean = e.wasClean;
    const willReconnect: boolean = e.willReconnect;
    const original: CloseEvent | undefined = e.original;
  });
  ws.addEventListener("error", (e) => {
    const error: unknown = e.error;
    const text: string | undefined = e.data;
    const original: Event | MessageEvent | undefined = e.original;
  });
  ws.addEventListener("reconnecting", (e) => {
    is<Equal<[typeof e.attempt, typeof e.delay], [number, number]>>();
  });
  ws.addEventListener("maximum", (e) => is<Equal<typeof e.attempts, number>>());
  const onDrop = (e: ParleyDropEvent) => {
    const dropped: unknown = e.data;
    const fromJson: boolean = e.json;
  };
  ws.addEventListener("drop", onDrop, { once: true });
  ws.removeEventListener("drop", onDrop);
  ws.removeEventListener("drop", onDrop, false);
  ws.addEventListener("message", { handleEvent: (e: ParleyMessageEvent) => e.data }, true);

  ws.onopen = (e: ParleyOpenEvent) => {};
  ws.onmessage = function (e: ParleyMessageEvent<{ text: string }>) {
    const text: string = e.data.text;
    this.json({ echo: text });
  };
  ws.onclose = (e: ParleyCloseEvent) => e.willReconnect;
  ws.onerror = (e: ParleyErrorEvent) => e.error;
  ws.onreconnecting = (e: ParleyReconnectingEvent) => e.delay;
  ws.onmaximum = (e: ParleyMaximumEvent) => e.attempts;
  ws.ondrop = onDrop;
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = ws.onreconnecting = ws.onmaximum = ws.ondrop = null;
  ws.dispatchEvent(new ParleyEvent("open"));

  // ---- misuse, which must stay rejected ----
  // @ts-expect-error an option of the wrong type
  new ParleySocket("ws://h/", { minDelay: "1000" });
  // @ts-expect-error a queueFull mode that does not exist
  new ParleySocket("ws://h/", { queueFull: "drop-newest" });
  // @ts-expect-error an option that does not exist
  new ParleySocket("ws://h/", { reconnect: true });
  // @ts-expect-error a URL of the wrong type
  new ParleySocket(8080);
  // @ts-expect-error an event that ParleySocket never fires (a typo)
  ws.addEventListener("mesage", () => {});
  // @ts-expect-error a listener expecting fields its event lacks
  ws.addEventListener("open", (e: ParleyCloseEvent) => e.code);
  // @ts-expect-error send takes a string, a buffer, a view or a Blob, not an object
  ws.send({ text: "hello" });
  // @ts-expect-error readyState is read-only
  ws.readyState = 1;
  // @ts-expect-error close codes are numbers
  ws.close("1000");
  // @ts-expect-error binaryType is "blob" or "arraybuffer"
  ws.binaryType = "text";
}
