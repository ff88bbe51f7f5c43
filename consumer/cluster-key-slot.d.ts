// cluster-key-slot ships without types; it is ioredis' own dependency (the slot of a key, hash tags honoured).
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string | Buffer): number
}
