/** Types of cluster-key-slot (ioredis's own slot function, which ships none): the Redis Cluster slot of a key, hash tags honoured. */
declare module 'cluster-key-slot' {
  /** The slot (0-16383) of `key`: CRC16 of its hash tag (or the whole key) mod 16384, as the Redis Cluster specification defines it. */
  export default function calculateSlot(key: string | Buffer): number;
}
