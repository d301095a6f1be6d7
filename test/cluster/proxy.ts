/**
 * A fault-injecting TCP proxy for process-level tests: it forwards connections from its own
 * port to a target, and can be partitioned (every open connection is cut and new ones are
 * accepted but black-holed: bytes are read and dropped, never forwarded) and healed.
 */
import * as net from 'node:net';

export class FaultProxy {
  private partitioned = false;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly target: { host: string; port: number },
  ) {}

  static async start(host: string, target: { host: string; port: number }, port = 0): Promise<FaultProxy> {
    const holder: { proxy?: FaultProxy } = {};
    const server = net.createServer((client) => holder.proxy?.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    holder.proxy = new FaultProxy(server, address.port, target);
    return holder.proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private accept(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    if (this.partitioned) {
      client.on('data', () => undefined);
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Cuts every connection; new ones hang (black hole) until heal(). */
  partition(): void {
    this.partitioned = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  /**
   * Ends the partition. Connections accepted while partitioned (black-holed) are reset: across a
   * real partition a connection attempt never completes, so once it heals the peer dials again;
   * a black-holed socket kept open would leave a gRPC channel connecting forever ("Waiting for
   * LB pick": request forwarding to a node of the healed side stalled for 45 s in the zone test).
   */
  heal(): void {
    this.partitioned = false;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
