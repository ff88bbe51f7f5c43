import type { SeededRandom } from '../common/random.js'

/**
 * Post text with rich-text facets. Facet offsets are UTF-8 byte offsets (the lexicon's
 * byteStart/byteEnd), so text with emoji and CJK exercises the difference from UTF-16 indexes.
 */

export interface Facet {
  index: { byteStart: number; byteEnd: number }
  features: Record<string, unknown>[]
}

export interface RichText {
  text: string
  facets: Facet[]
  langs: string[]
}

/** Someone who can be mentioned: the handle is shown, the DID is what the facet carries. */
export interface MentionTarget {
  did: string
  handle: string
}

// Language shares roughly follow Bluesky's public posting languages (English first, then
// Japanese, Portuguese, German, Spanish, ...); phrases are written for this generator.
const PHRASES: Record<string, { weight: number; lines: string[] }> = {
  en: {
    weight: 50,
    lines: [
      'just finished reading this and I have thoughts',
      'the sunset tonight was unreal',
      'anyone else still debugging at this hour?',
      'new blog post is up, feedback welcome',
      'coffee first, opinions later',
      'this thread is a great explainer',
      'shipping the release today, fingers crossed',
      'hot take: tabs are fine actually',
      'my cat has decided the keyboard is a bed',
      'reminder to drink water and touch grass',
      'what are you all reading this week?',
      'the conference talks are online now',
    ],
  },
  ja: {
    weight: 18,
    lines: ['今日はとても良い天気ですね', '新しいブログ記事を書きました', 'おはようございます！今日も頑張りましょう', 'このスレッドすごく勉強になる', '猫がキーボードの上で寝ている', 'ラーメン食べたい'],
  },
  pt: { weight: 10, lines: ['bom dia a todos', 'que jogo incrível ontem', 'alguém recomenda um livro bom?', 'saudade de viajar'] },
  de: { weight: 6, lines: ['guten Morgen zusammen', 'endlich Wochenende', 'der Zug ist wieder zu spät', 'schöner Artikel, danke fürs Teilen'] },
  es: { weight: 6, lines: ['buenos días', 'qué partido tan increíble', 'alguien más escuchando este álbum?', 'me encanta esta ciudad'] },
  fr: { weight: 4, lines: ['bonne journée à tous', 'quel beau coucher de soleil', 'nouvel article publié'] },
  ko: { weight: 3, lines: ['오늘 날씨 정말 좋네요', '새 글을 올렸어요', '고양이가 너무 귀여워요'] },
  zh: { weight: 3, lines: ['今天天气很好', '刚看完这本书，推荐', '周末愉快'] },
}
const LANG_WEIGHTS = Object.fromEntries(Object.entries(PHRASES).map(([lang, p]) => [lang, p.weight])) as Record<string, number>
const EMOJI = ['🎉', '☕', '🌅', '😂', '🙏', '🔥', '💙', '🦋', '👀', '✨', '📚', '🐈', '🇧🇷', '👩🏽‍💻', '❤️']
const TAGS = ['bluesky', 'photography', 'gamedev', 'art', 'books', 'science', 'music', 'atproto', '日本語', 'café']
const LINK_HOSTS = ['example.com', 'blog.example.org', 'news.example.net', 'docs.example.dev']

const encoder = new TextEncoder()
function byteLength(s: string): number {
  return encoder.encode(s).byteLength
}

/** Builds text piece by piece, recording each facet at the UTF-8 offset where it lands. */
class TextBuilder {
  private text = ''
  private bytes = 0
  readonly facets: Facet[] = []

  append(piece: string): void {
    this.text += piece
    this.bytes += byteLength(piece)
  }

  appendFacet(piece: string, feature: Record<string, unknown>): void {
    const byteStart = this.bytes
    this.append(piece)
    this.facets.push({ index: { byteStart, byteEnd: this.bytes }, features: [feature] })
  }

  toString(): string {
    return this.text
  }
}

export function randomUrl(random: SeededRandom): string {
  return `https://${random.pick(LINK_HOSTS)}/${random.pick(['posts', 'articles', 'p', '2025'])}/${random.int(1000, 99999)}`
}

export function randomLang(random: SeededRandom): string {
  return random.weighted(LANG_WEIGHTS)
}

export function randomPhrase(random: SeededRandom, lang: string): string {
  return random.pick(PHRASES[lang]!.lines)
}

export function randomRichText(random: SeededRandom, mentionable: () => MentionTarget | null): RichText {
  const lang = randomLang(random)
  const b = new TextBuilder()
  const sep = lang === 'ja' || lang === 'zh' ? '' : ' '
  if (random.bool(0.12)) {
    const target = mentionable()
    if (target) {
      b.appendFacet(`@${target.handle}`, { $type: 'app.bsky.richtext.facet#mention', did: target.did })
      b.append(' ')
    }
  }
  b.append(randomPhrase(random, lang))
  if (random.bool(0.35)) b.append(sep + randomPhrase(random, lang))
  if (random.bool(0.3)) b.append(' ' + random.pick(EMOJI) + (random.bool(0.3) ? random.pick(EMOJI) : ''))
  if (random.bool(0.1)) {
    b.append(' ')
    const url = randomUrl(random)
    // Clients shorten long links in the text but keep the full URL in the facet.
    b.appendFacet(url.replace(/^https:\/\//, '').slice(0, 24) + (url.length > 32 ? '...' : ''), { $type: 'app.bsky.richtext.facet#link', uri: url })
  }
  const tagCount = random.bool(0.15) ? random.int(1, 3) : 0
  for (let i = 0; i < tagCount; i++) {
    const tag = random.pick(TAGS)
    b.append(' ')
    b.appendFacet(`#${tag}`, { $type: 'app.bsky.richtext.facet#tag', tag })
  }
  return { text: b.toString(), facets: b.facets, langs: [lang] }
}
