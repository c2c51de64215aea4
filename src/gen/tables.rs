//! Static vocabulary for the synthetic data: prefectures, the words
//! employers, buildings and schools are composed of, ministries and trades.
//! (Names and addresses are real data: see [`super::names`] and
//! [`super::addresses`].)
//!
//! Nothing here contains a comma, a double quote or a line break, so the CSV
//! writers can emit these strings without quoting (a unit test checks it).

/// A prefecture (都道府県) with what the generator needs to make believable
/// addresses, phone numbers and insurer tables for it.
pub(super) struct Prefecture {
    /// Full name, as written at the start of an address (東京都).
    pub name: &'static str,
    /// Name without 都/府/県, used in branch names and card symbols (東京).
    pub short: &'static str,
    /// The prefectural capital (or 新宿区 for Tokyo), the largest municipality.
    pub capital: &'static str,
    /// Telephone area code of the capital.
    pub area: &'static str,
    /// Population in units of 10,000 (2020 census, rounded).
    pub population: u32,
}

const fn pref(
    name: &'static str,
    short: &'static str,
    capital: &'static str,
    area: &'static str,
    population: u32,
) -> Prefecture {
    Prefecture {
        name,
        short,
        capital,
        area,
        population,
    }
}

/// The 47 prefectures in JIS X 0401 order: index + 1 is the prefecture code.
pub(super) const PREFECTURES: [Prefecture; 47] = [
    pref("北海道", "北海道", "札幌市", "011", 522),
    pref("青森県", "青森", "青森市", "017", 124),
    pref("岩手県", "岩手", "盛岡市", "019", 121),
    pref("宮城県", "宮城", "仙台市", "022", 230),
    pref("秋田県", "秋田", "秋田市", "018", 96),
    pref("山形県", "山形", "山形市", "023", 107),
    pref("福島県", "福島", "福島市", "024", 183),
    pref("茨城県", "茨城", "水戸市", "029", 287),
    pref("栃木県", "栃木", "宇都宮市", "028", 193),
    pref("群馬県", "群馬", "前橋市", "027", 194),
    pref("埼玉県", "埼玉", "さいたま市", "048", 734),
    pref("千葉県", "千葉", "千葉市", "043", 628),
    pref("東京都", "東京", "新宿区", "03", 1405),
    pref("神奈川県", "神奈川", "横浜市", "045", 924),
    pref("新潟県", "新潟", "新潟市", "025", 220),
    pref("富山県", "富山", "富山市", "076", 104),
    pref("石川県", "石川", "金沢市", "076", 113),
    pref("福井県", "福井", "福井市", "0776", 77),
    pref("山梨県", "山梨", "甲府市", "055", 81),
    pref("長野県", "長野", "長野市", "026", 205),
    pref("岐阜県", "岐阜", "岐阜市", "058", 198),
    pref("静岡県", "静岡", "静岡市", "054", 363),
    pref("愛知県", "愛知", "名古屋市", "052", 754),
    pref("三重県", "三重", "津市", "059", 177),
    pref("滋賀県", "滋賀", "大津市", "077", 141),
    pref("京都府", "京都", "京都市", "075", 258),
    pref("大阪府", "大阪", "大阪市", "06", 884),
    pref("兵庫県", "兵庫", "神戸市", "078", 547),
    pref("奈良県", "奈良", "奈良市", "0742", 132),
    pref("和歌山県", "和歌山", "和歌山市", "073", 92),
    pref("鳥取県", "鳥取", "鳥取市", "0857", 55),
    pref("島根県", "島根", "松江市", "0852", 67),
    pref("岡山県", "岡山", "岡山市", "086", 189),
    pref("広島県", "広島", "広島市", "082", 280),
    pref("山口県", "山口", "山口市", "083", 134),
    pref("徳島県", "徳島", "徳島市", "088", 72),
    pref("香川県", "香川", "高松市", "087", 95),
    pref("愛媛県", "愛媛", "松山市", "089", 133),
    pref("高知県", "高知", "高知市", "088", 69),
    pref("福岡県", "福岡", "福岡市", "092", 514),
    pref("佐賀県", "佐賀", "佐賀市", "0952", 81),
    pref("長崎県", "長崎", "長崎市", "095", 131),
    pref("熊本県", "熊本", "熊本市", "096", 174),
    pref("大分県", "大分", "大分市", "097", 112),
    pref("宮崎県", "宮崎", "宮崎市", "0985", 107),
    pref("鹿児島県", "鹿児島", "鹿児島市", "099", 159),
    pref("沖縄県", "沖縄", "那覇市", "098", 147),
];

/// Tokyo's prefecture code (national insurers have their seat there).
pub(super) const TOKYO: u8 = 13;

/// Company-name stems.
pub(super) const COMPANY_STEMS: [&str; 60] = [
    "日本",
    "東洋",
    "大和",
    "富士",
    "三和",
    "朝日",
    "東和",
    "大同",
    "昭和",
    "明治",
    "太陽",
    "中央",
    "第一",
    "共栄",
    "協和",
    "北斗",
    "白鳥",
    "日の出",
    "青葉",
    "若葉",
    "山河",
    "東邦",
    "西日本",
    "東日本",
    "北日本",
    "南海",
    "関東",
    "関西",
    "中部",
    "九州",
    "四国",
    "北陸",
    "東北",
    "北海",
    "瀬戸内",
    "信越",
    "湘南",
    "阪神",
    "京浜",
    "常磐",
    "三星",
    "五洋",
    "七星",
    "双葉",
    "旭",
    "丸和",
    "山和",
    "大栄",
    "新日",
    "帝都",
    "国際",
    "総合",
    "全日",
    "和光",
    "栄光",
    "未来",
    "創和",
    "誠和",
    "明和",
    "隆盛",
];

/// Industry words that end company names.
pub(super) const INDUSTRIES: [&str; 70] = [
    "電機",
    "商事",
    "製作所",
    "建設",
    "運輸",
    "食品",
    "システム",
    "物産",
    "工業",
    "不動産",
    "化学",
    "製薬",
    "通信",
    "電力",
    "ガス",
    "鉄道",
    "自動車",
    "精機",
    "印刷",
    "製紙",
    "繊維",
    "重工",
    "鉄鋼",
    "百貨店",
    "物流",
    "電子",
    "情報",
    "工務店",
    "興業",
    "産業",
    "商店",
    "精工",
    "化成",
    "薬品",
    "開発",
    "サービス",
    "技研",
    "観光",
    "交通",
    "警備",
    "設計",
    "塗装",
    "鉄工所",
    "製菓",
    "酒造",
    "水産",
    "農園",
    "電設",
    "設備",
    "土木",
    "住宅",
    "ホーム",
    "ソフト",
    "テクノ",
    "エンジニアリング",
    "コンサルタント",
    "メディカル",
    "ケア",
    "フーズ",
    "トラベル",
    "ビルサービス",
    "環境",
    "機械",
    "金属",
    "木材",
    "石油",
    "硝子",
    "家具",
    "衣料",
    "印刷工業",
];

/// Loanwords that start company and building names.
pub(super) const KATAKANA_WORDS: [&str; 60] = [
    "サン",
    "グリーン",
    "ロイヤル",
    "エクセル",
    "パーク",
    "シティ",
    "リバー",
    "フォレスト",
    "ガーデン",
    "スカイ",
    "ブルー",
    "ゴールド",
    "シルバー",
    "クレスト",
    "アーバン",
    "ベル",
    "ノース",
    "サウス",
    "イースト",
    "ウエスト",
    "セントラル",
    "プラザ",
    "ハーモニー",
    "ルミエール",
    "アルファ",
    "オリオン",
    "ステラ",
    "ソレイユ",
    "コスモ",
    "ライフ",
    "フローラ",
    "ミモザ",
    "オーク",
    "メープル",
    "ポプラ",
    "アカシア",
    "リバティ",
    "ドリーム",
    "ニュー",
    "フレンド",
    "アクア",
    "クリスタル",
    "ダイヤ",
    "パール",
    "エメラルド",
    "プリンス",
    "キャッスル",
    "ウィング",
    "スター",
    "ムーン",
    "レイク",
    "ヒル",
    "ベイ",
    "エスポワール",
    "グランデ",
    "ファミール",
    "サニー",
    "ハッピー",
    "エデン",
    "アイリス",
];

/// What a building name ends with (サンハイツ, 田中荘); the first six are
/// the large kinds, with more floors.
pub(super) const BUILDING_KINDS: [&str; 20] = [
    "マンション",
    "ハイツ",
    "コーポ",
    "レジデンス",
    "ハイム",
    "パレス",
    "コート",
    "ヒルズ",
    "テラス",
    "ハウス",
    "ビル",
    "荘",
    "アパート",
    "ヴィラ",
    "プラザ",
    "シャトー",
    "タワー",
    "レジデンシャル",
    "フラット",
    "メゾネット",
];

/// What a building name may start with instead (メゾン大通, パレスグリーン).
pub(super) const BUILDING_PREFIXES: [&str; 10] = [
    "メゾン",
    "コーポ",
    "パレス",
    "グラン",
    "ヴィラ",
    "シャトレ",
    "パークハウス",
    "ドミール",
    "プレール",
    "ライオンズマンション",
];

/// National mutual-aid associations (法別 31): the association's name and
/// the employer printed on its members' rows.
pub(super) const MINISTRIES: [(&str, &str); 21] = [
    ("衆議院共済組合", "衆議院事務局"),
    ("参議院共済組合", "参議院事務局"),
    ("内閣共済組合", "内閣府"),
    ("総務省共済組合", "総務省"),
    ("法務省共済組合", "法務省"),
    ("外務省共済組合", "外務省"),
    ("財務省共済組合", "財務省"),
    ("文部科学省共済組合", "文部科学省"),
    ("厚生労働省共済組合", "厚生労働省"),
    ("厚生労働省第二共済組合", "国立病院機構"),
    ("農林水産省共済組合", "農林水産省"),
    ("林野庁共済組合", "林野庁"),
    ("経済産業省共済組合", "経済産業省"),
    ("国土交通省共済組合", "国土交通省"),
    ("裁判所共済組合", "最高裁判所"),
    ("会計検査院共済組合", "会計検査院"),
    ("刑務共済組合", "法務省矯正局"),
    ("防衛省共済組合", "防衛省"),
    ("環境省共済組合", "環境省"),
    ("日本郵政共済組合", "日本郵便株式会社"),
    (
        "国家公務員共済組合連合会職員共済組合",
        "国家公務員共済組合連合会",
    ),
];

/// Trades with their own NHI society (国保組合); the first three exist in
/// every prefecture.
pub(super) const NHI_TRADES: [&str; 12] = [
    "医師",
    "歯科医師",
    "薬剤師",
    "建設",
    "食品販売",
    "理容美容",
    "税理士",
    "弁護士",
    "料理飲食業",
    "土木建築",
    "芸能人",
    "文芸美術",
];

/// Self-defence force branches (法別 07 rows name one as employer).
pub(super) const FORCES: [&str; 3] = ["陸上自衛隊", "海上自衛隊", "航空自衛隊"];

/// Japan's population by five-year age band (0–4 … 95–99), in 100,000s.
pub(super) const AGE_BANDS: [u32; 20] = [
    42, 48, 52, 55, 62, 63, 65, 72, 80, 95, 92, 80, 74, 79, 92, 71, 58, 39, 19, 5,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> bool {
        !text.is_empty() && !text.contains([',', '"', '\r', '\n'])
    }

    #[test]
    fn no_string_needs_csv_quoting() {
        for p in &PREFECTURES {
            assert!(plain(p.name) && plain(p.short) && plain(p.capital) && plain(p.area));
        }
        let words = COMPANY_STEMS
            .iter()
            .chain(&INDUSTRIES)
            .chain(&KATAKANA_WORDS)
            .chain(&BUILDING_KINDS)
            .chain(&BUILDING_PREFIXES)
            .chain(&NHI_TRADES)
            .chain(&FORCES);
        for word in words {
            assert!(plain(word) && !word.contains(' '));
        }
        for (a, b) in &MINISTRIES {
            assert!(plain(a) && plain(b));
        }
    }
}
