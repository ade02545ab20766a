/**
 * The two events of a connection ('packet' and 'close') with on / once / off as EventEmitter has
 * them, listeners called with the connection as `this`. Not an EventEmitter: its per-instance
 * listener table is a dictionary-mode object of about 400 bytes, a tenth of what an idle connection
 * holds in all; here one listener is a field and more become an array.
 */
export interface ConnectionEvents {
  /** One framed payload; `quickAck` = the client asked for a quick ack of it. */
  packet: [payload: Buffer, quickAck: boolean]
  /** Emitted once, however the connection ended. */
  close: [reason: string]
}

type Listener<E extends keyof ConnectionEvents> = (...args: ConnectionEvents[E]) => void
type Fn = (...args: unknown[]) => void
type Slot = Fn | Fn[] | undefined

/** A `once` wrapper: remembers what it wraps, so off(fn) finds it. */
type OnceWrapper = Fn & { listener: unknown }

export class ConnectionEmitter {
  private onPacket: Slot = undefined
  private onClose: Slot = undefined

  on<E extends keyof ConnectionEvents>(event: E, fn: Listener<E>): this {
    const f = fn as unknown as Fn
    const cur = this.slot(event)
    this.set(event, cur === undefined ? f : Array.isArray(cur) ? [...cur, f] : [cur, f])
    return this
  }

  once<E extends keyof ConnectionEvents>(event: E, fn: Listener<E>): this {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this
    const w = function (this: unknown, ...args: unknown[]) {
      self.off(event, fn)
      ;(fn as unknown as Fn).apply(this, args)
    } as OnceWrapper
    w.listener = fn
    return this.on(event, w as unknown as Listener<E>)
  }

  off<E extends keyof ConnectionEvents>(event: E, fn: Listener<E>): this {
    const cur = this.slot(event)
    const is = (x: Fn) => x === (fn as unknown) || (x as Partial<OnceWrapper>).listener === fn
    if (cur === undefined) return this
    if (!Array.isArray(cur)) {
      if (is(cur)) this.set(event, undefined)
      return this
    }
    const i = cur.findIndex(is)
    if (i < 0) return this
    const rest = cur.filter((_, j) => j !== i)
    this.set(event, rest.length === 1 ? rest[0] : rest)
    return this
  }

  /** Calls the listeners of `event` with this connection as `this` (a copy: listeners may unsubscribe). */
  protected emit<E extends keyof ConnectionEvents>(event: E, ...args: ConnectionEvents[E]): void {
    const cur = this.slot(event)
    if (cur === undefined) return
    if (!Array.isArray(cur)) return void cur.apply(this, args)
    for (const f of [...cur]) f.apply(this, args)
  }

  private slot(event: keyof ConnectionEvents): Slot {
    return event === 'packet' ? this.onPacket : this.onClose
  }

  private set(event: keyof ConnectionEvents, v: Slot): void {
    if (event === 'packet') this.onPacket = v
    else this.onClose = v
  }
}
