//! JSON conventions of the protocol: hex is lowercase with a `0x` prefix, u128 amounts are
//! decimal strings.

/// Parses `0x`-prefixed hex into exactly `N` bytes.
pub fn parse_hex_array<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let bytes = parse_hex(text)?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| format!("expected {N} bytes of hex, got {}", bytes.len()))
}

/// Parses `0x`-prefixed hex of any length.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.strip_prefix("0x").ok_or_else(|| "hex must start with 0x".to_string())?;
    if digits.len() % 2 != 0 {
        return Err("bad hex: Odd number of digits".to_string());
    }
    let mut bytes = vec![0; digits.len() / 2];
    for (index, (pair, byte)) in digits.as_bytes().chunks_exact(2).zip(&mut bytes).enumerate() {
        let (high, low) =
            (HEX_DIGIT_VALUES[usize::from(pair[0])], HEX_DIGIT_VALUES[usize::from(pair[1])]);
        // Digits are worth 0..=15, so one test finds either of the two is none.
        if (high | low) > 0xf {
            let position = if high == NOT_A_HEX_DIGIT { 2 * index } else { 2 * index + 1 };
            // Every byte before `position` is an ASCII digit, so it starts a character.
            let character = digits[position..].chars().next().unwrap_or_default();
            return Err(format!("bad hex: Invalid character {character:?} at position {position}"));
        }
        *byte = (high << 4) | low;
    }
    Ok(bytes)
}

/// Marks a byte that is no hex digit in [`HEX_DIGIT_VALUES`].
const NOT_A_HEX_DIGIT: u8 = 0xff;

/// Each byte's value as a hex digit (either case). A client's transaction is about 300 hex
/// digits, and under overload the node decodes tens of thousands a second to refuse them: a
/// table look-up per digit takes about a fifth of the time of the `hex` crate's decoder.
const HEX_DIGIT_VALUES: [u8; 256] = {
    let mut values = [NOT_A_HEX_DIGIT; 256];
    let mut digit = 0;
    while digit < 16 {
        values[b"0123456789abcdef"[digit] as usize] = digit as u8;
        values[b"0123456789ABCDEF"[digit] as usize] = digit as u8;
        digit += 1;
    }
    values
};

/// Formats bytes as `0x`-prefixed lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Serde adapter for `u128` as a decimal string (JSON numbers lose precision past 2^53).
pub mod u128_string {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes the amount as a decimal string.
    pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a decimal string (digits only).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(D::Error::custom(format!("expected a decimal string, got {text:?}")));
        }
        text.parse().map_err(|_| D::Error::custom(format!("amount out of range: {text}")))
    }
}

/// Serde adapter for byte vectors as `0x` hex.
pub mod hex_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes the bytes as `0x` hex.
    pub fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::to_hex(value))
    }

    /// Reads `0x` hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_hex(&text).map_err(D::Error::custom)
    }
}

/// Implements serde for a newtype over `[u8; N]` as `0x` hex, plus `FromStr`.
macro_rules! impl_hex_serde {
    ($type:ident, $len:expr) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&$crate::json::to_hex(&self.0))
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $type {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $crate::json::parse_hex_array::<$len>(text).map($type)
            }
        }
    };
}
pub(crate) use impl_hex_serde;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_bad_hex_is_an_error() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(parse_hex(&to_hex(&bytes)), Ok(bytes));
        assert_eq!(parse_hex("0x"), Ok(Vec::new()));
        assert_eq!(parse_hex("0xABcd"), Ok(vec![0xab, 0xcd]));
        assert_eq!(parse_hex("abcd"), Err("hex must start with 0x".to_string()));
        assert_eq!(parse_hex("0xabc"), Err("bad hex: Odd number of digits".to_string()));
        assert_eq!(
            parse_hex("0xzz"),
            Err("bad hex: Invalid character 'z' at position 0".to_string())
        );
        assert_eq!(
            parse_hex("0xabcz"),
            Err("bad hex: Invalid character 'z' at position 3".to_string())
        );
        assert_eq!(
            parse_hex("0xaéb"),
            Err("bad hex: Invalid character 'é' at position 1".to_string())
        );
        assert_eq!(parse_hex_array::<2>("0xabcd"), Ok([0xab, 0xcd]));
        assert!(parse_hex_array::<3>("0xabcd").is_err());
    }

    #[test]
    fn every_pair_of_ascii_characters_decodes_as_the_hex_crate_does() {
        for high in 0..128u8 {
            for low in 0..128u8 {
                let digits = [high, low];
                let text = format!("0x{}", std::str::from_utf8(&digits).unwrap());
                let expected = hex::decode(digits).map_err(|error| format!("bad hex: {error}"));
                assert_eq!(parse_hex(&text), expected, "{text:?}");
            }
        }
    }
}
