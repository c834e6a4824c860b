/**
 * The seam between the prompt chunker (prompt-chunks.ts) and textual-inversion files: the chunker only needs to
 * know which token ids an embedding's name stands for. Reading .safetensors/.pt files and growing the text
 * encoder's token-embedding table so those ids exist is done elsewhere.
 */

/** A textual-inversion embedding as the chunker sees it: the token ids it occupies in the (extended) vocabulary. */
export interface PromptEmbedding { name: string; ids: readonly number[]; hash: string }
/** Finds embeddings by the names users type (`EasyNegative`, `embedding:EasyNegative`). */
export interface EmbeddingLookup { find(word: string): PromptEmbedding | undefined }
