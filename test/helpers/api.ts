/** The api_id / api_hash the real clients present (Telegram's public test application). */
export const API_ID = 4
export const API_HASH = '014b35b6184100b085b0d0572f9b5103'
