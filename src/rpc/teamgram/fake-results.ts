/**
 * Teamgram's answers to methods no BFF service implements (teamgram-server
 * app/bff/bff/client/fake_rpc_result.go), as TL objects of the newest layer: empty lists, "no
 * password yet" with Teamgram's key-derivation parameters, true for reports. Where our layer's
 * result type differs from Teamgram's (messages.getWebPage, messages.getDialogFilters,
 * messages.report) the answer is the same emptiness in our type.
 *
 * The bridge answers with these for methods that match no route when `unrouted` is a
 * teamgram-bff upstream or none (Teamgram's proxy does the same before ERR_ENTERPRISE_IS_BLOCKED).
 */
import { randomBytes } from 'node:crypto'

type Query = Record<string, unknown>
type Fake = (q: Query, nowS: number) => unknown

const P = Buffer.from('c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f642477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b', 'hex')
const newAlgo = { _: 'passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow', salt1: Buffer.from('ecf8737665bc775a', 'hex'), salt2: Buffer.from('bede48888c0f42ac34ffd1d4935d8b21', 'hex'), g: 3, p: P }
const newSecureAlgo = { _: 'securePasswordKdfAlgoPBKDF2HMACSHA512iter100000', salt: Buffer.from('7d04b34b94828c3d', 'hex') }

const allStickers: Fake = () => ({ _: 'messages.allStickers', hash: 0n, sets: [] })
const featuredStickers: Fake = () => ({ _: 'messages.featuredStickers', hash: 0n, count: 0, sets: [], unread: [] })
const yes: Fake = () => true

export const TEAMGRAM_FAKE_RESULTS: Readonly<Record<string, Fake>> = {
  'langpack.getDifference': (q) => ({ _: 'langPackDifference', lang_code: q.lang_code, from_version: q.from_version, version: q.from_version, strings: [] }),
  'langpack.getLangPack': (q) => ({ _: 'langPackDifference', lang_code: q.lang_code, from_version: 0, version: 0, strings: [] }),
  'langpack.getLanguages': () => [],
  'langpack.getStrings': () => [],
  'messages.getWebPage': () => ({ _: 'messages.webPage', webpage: { _: 'webPageEmpty', id: 0n }, chats: [], users: [] }),
  'account.getWallPapers': () => ({ _: 'account.wallPapers', hash: 0n, wallpapers: [] }),
  'account.getPassword': () => ({ _: 'account.password', new_algo: newAlgo, new_secure_algo: newSecureAlgo, secure_random: randomBytes(256) }),
  'help.acceptTermsOfService': yes,
  'help.getTermsOfServiceUpdate': (_q, now) => ({ _: 'help.termsOfServiceUpdateEmpty', expires: now + 3600 }),
  'account.getThemes': () => ({ _: 'account.themes', hash: 0n, themes: [] }),
  'account.getChatThemes': () => ({ _: 'account.themes', hash: 0n, themes: [] }),
  'messages.getAllStickers': allStickers,
  'messages.getArchivedStickers': () => ({ _: 'messages.archivedStickers', count: 0, sets: [] }),
  'messages.getFavedStickers': () => ({ _: 'messages.favedStickers', hash: 0n, packs: [], stickers: [] }),
  'messages.getMaskStickers': allStickers,
  'messages.getEmojiStickers': allStickers,
  'messages.getOldFeaturedStickers': featuredStickers,
  'messages.getFeaturedStickers': featuredStickers,
  'messages.getFeaturedEmojiStickers': featuredStickers,
  'messages.getRecentStickers': () => ({ _: 'messages.recentStickers', hash: 0n, packs: [], stickers: [], dates: [] }),
  'messages.getStickers': () => ({ _: 'messages.stickers', hash: 0n, stickers: [] }),
  'messages.getScheduledMessages': () => ({ _: 'messages.messages', messages: [], topics: [], chats: [], users: [] }),
  'messages.getAvailableReactions': () => ({ _: 'messages.availableReactions', hash: 0, reactions: [] }),
  'messages.getDialogFilters': () => ({ _: 'messages.dialogFilters', filters: [] }),
  'messages.getSavedGifs': () => ({ _: 'messages.savedGifs', hash: 0n, gifs: [] }),
  'messages.saveGif': yes,
  'help.getPromoData': (_q, now) => ({ _: 'help.promoDataEmpty', expires: now + 3600 }),
  'help.hidePromoData': yes,
  'messages.getEmojiKeywords': (q) => ({ _: 'emojiKeywordsDifference', lang_code: q.lang_code, from_version: 0, version: 0, keywords: [] }),
  'messages.getEmojiKeywordsDifference': (q) => ({ _: 'emojiKeywordsDifference', lang_code: q.lang_code, from_version: q.from_version, version: q.from_version, keywords: [] }),
  'messages.getEmojiKeywordsLanguages': () => [],
  'account.reportPeer': yes,
  'account.reportProfilePhoto': yes,
  'channels.reportSpam': yes,
  'messages.report': () => ({ _: 'reportResultReported' }),
  'messages.reportSpam': yes,
  'phone.getCallConfig': () => ({ _: 'dataJSON', data: '{}' }),
  'account.getAuthorizations': () => ({ _: 'account.authorizations', authorization_ttl_days: 0, authorizations: [] }),
  'account.getWebAuthorizations': () => ({ _: 'account.webAuthorizations', authorizations: [], users: [] }),
}

/** Teamgram's fake result of the query, undefined when it has none. */
export function teamgramFakeResult(method: string, query: Query, nowMs = Date.now()): unknown {
  return TEAMGRAM_FAKE_RESULTS[method]?.(query, Math.floor(nowMs / 1000))
}
