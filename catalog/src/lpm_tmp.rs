//! Temporary reference longest-prefix match (replaced by the real table).
use std::collections::HashMap;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match { pub value: u32, pub len: u8 }
#[derive(Debug)]
pub struct BuildError(String);
impl std::fmt::Display for BuildError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) } }
pub struct Lpm<const BITS: u8> { maps: Vec<HashMap<u128, u32>>, n: usize }
pub type LpmV4 = Lpm<32>;
pub type LpmV6 = Lpm<128>;
impl<const BITS: u8> Lpm<BITS> {
    pub fn build<K: Into<u128>>(prefixes: Vec<(K, u8, u32)>) -> Result<Self, BuildError> {
        let mut maps = vec![HashMap::new(); BITS as usize + 1];
        let n = prefixes.len();
        for (net, len, v) in prefixes { if maps[len as usize].insert(net.into(), v).is_some() { return Err(BuildError("duplicate".into())); } }
        Ok(Lpm { maps, n })
    }
    pub fn lookup<K: Into<u128>>(&self, addr: K) -> Option<Match> {
        let a: u128 = addr.into();
        (0..=BITS).rev().find_map(|len| {
            let mask = if len == 0 { 0 } else { (u128::MAX << (BITS - len)) & (u128::MAX >> (128 - BITS as u32)) };
            self.maps[len as usize].get(&(a & mask)).map(|v| Match { value: *v, len })
        })
    }
    pub fn len(&self) -> usize { self.n }
    pub fn heap_bytes(&self) -> usize { self.n * 24 }
}
