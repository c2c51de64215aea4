//! Static vocabulary for the synthetic data: prefectures, names with their
//! readings, place-name and company-name pieces, ministries and trades.
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
    /// First three digits of postal codes start here (ten consecutive values).
    pub postal: u16,
    /// Telephone area code of the capital.
    pub area: &'static str,
    /// Population in units of 10,000 (2020 census, rounded).
    pub population: u32,
    /// Number of municipalities (市区町村), each a municipal NHI insurer.
    pub municipalities: u16,
}

const fn pref(
    name: &'static str,
    short: &'static str,
    capital: &'static str,
    postal: u16,
    area: &'static str,
    population: u32,
    municipalities: u16,
) -> Prefecture {
    Prefecture {
        name,
        short,
        capital,
        postal,
        area,
        population,
        municipalities,
    }
}

/// The 47 prefectures in JIS X 0401 order: index + 1 is the prefecture code.
pub(super) const PREFECTURES: [Prefecture; 47] = [
    pref("北海道", "北海道", "札幌市", 60, "011", 522, 179),
    pref("青森県", "青森", "青森市", 30, "017", 124, 40),
    pref("岩手県", "岩手", "盛岡市", 20, "019", 121, 33),
    pref("宮城県", "宮城", "仙台市", 980, "022", 230, 35),
    pref("秋田県", "秋田", "秋田市", 10, "018", 96, 25),
    pref("山形県", "山形", "山形市", 990, "023", 107, 35),
    pref("福島県", "福島", "福島市", 960, "024", 183, 59),
    pref("茨城県", "茨城", "水戸市", 310, "029", 287, 44),
    pref("栃木県", "栃木", "宇都宮市", 320, "028", 193, 25),
    pref("群馬県", "群馬", "前橋市", 371, "027", 194, 35),
    pref("埼玉県", "埼玉", "さいたま市", 330, "048", 734, 63),
    pref("千葉県", "千葉", "千葉市", 260, "043", 628, 54),
    pref("東京都", "東京", "新宿区", 160, "03", 1405, 62),
    pref("神奈川県", "神奈川", "横浜市", 220, "045", 924, 33),
    pref("新潟県", "新潟", "新潟市", 950, "025", 220, 30),
    pref("富山県", "富山", "富山市", 930, "076", 104, 15),
    pref("石川県", "石川", "金沢市", 920, "076", 113, 19),
    pref("福井県", "福井", "福井市", 910, "0776", 77, 17),
    pref("山梨県", "山梨", "甲府市", 400, "055", 81, 27),
    pref("長野県", "長野", "長野市", 380, "026", 205, 77),
    pref("岐阜県", "岐阜", "岐阜市", 500, "058", 198, 42),
    pref("静岡県", "静岡", "静岡市", 420, "054", 363, 35),
    pref("愛知県", "愛知", "名古屋市", 450, "052", 754, 54),
    pref("三重県", "三重", "津市", 514, "059", 177, 29),
    pref("滋賀県", "滋賀", "大津市", 520, "077", 141, 19),
    pref("京都府", "京都", "京都市", 600, "075", 258, 26),
    pref("大阪府", "大阪", "大阪市", 530, "06", 884, 43),
    pref("兵庫県", "兵庫", "神戸市", 650, "078", 547, 41),
    pref("奈良県", "奈良", "奈良市", 630, "0742", 132, 39),
    pref("和歌山県", "和歌山", "和歌山市", 640, "073", 92, 30),
    pref("鳥取県", "鳥取", "鳥取市", 680, "0857", 55, 19),
    pref("島根県", "島根", "松江市", 690, "0852", 67, 19),
    pref("岡山県", "岡山", "岡山市", 700, "086", 189, 27),
    pref("広島県", "広島", "広島市", 730, "082", 280, 23),
    pref("山口県", "山口", "山口市", 753, "083", 134, 19),
    pref("徳島県", "徳島", "徳島市", 770, "088", 72, 24),
    pref("香川県", "香川", "高松市", 760, "087", 95, 17),
    pref("愛媛県", "愛媛", "松山市", 790, "089", 133, 20),
    pref("高知県", "高知", "高知市", 780, "088", 69, 34),
    pref("福岡県", "福岡", "福岡市", 810, "092", 514, 60),
    pref("佐賀県", "佐賀", "佐賀市", 840, "0952", 81, 20),
    pref("長崎県", "長崎", "長崎市", 850, "095", 131, 21),
    pref("熊本県", "熊本", "熊本市", 860, "096", 174, 45),
    pref("大分県", "大分", "大分市", 870, "097", 112, 18),
    pref("宮崎県", "宮崎", "宮崎市", 880, "0985", 107, 26),
    pref("鹿児島県", "鹿児島", "鹿児島市", 890, "099", 159, 43),
    pref("沖縄県", "沖縄", "那覇市", 900, "098", 147, 41),
];

/// Tokyo's prefecture code (national insurers have their seat there).
pub(super) const TOKYO: u8 = 13;

/// A name in kanji with its reading in full-width katakana.
pub(super) struct Name {
    pub kanji: &'static str,
    pub kana: &'static str,
}

const fn n(kanji: &'static str, kana: &'static str) -> Name {
    Name { kanji, kana }
}

/// The most common family names, most frequent first.
pub(super) const FAMILY_NAMES: [Name; 100] = [
    n("佐藤", "サトウ"),
    n("鈴木", "スズキ"),
    n("高橋", "タカハシ"),
    n("田中", "タナカ"),
    n("伊藤", "イトウ"),
    n("渡辺", "ワタナベ"),
    n("山本", "ヤマモト"),
    n("中村", "ナカムラ"),
    n("小林", "コバヤシ"),
    n("加藤", "カトウ"),
    n("吉田", "ヨシダ"),
    n("山田", "ヤマダ"),
    n("佐々木", "ササキ"),
    n("山口", "ヤマグチ"),
    n("松本", "マツモト"),
    n("井上", "イノウエ"),
    n("木村", "キムラ"),
    n("林", "ハヤシ"),
    n("斎藤", "サイトウ"),
    n("清水", "シミズ"),
    n("山崎", "ヤマザキ"),
    n("森", "モリ"),
    n("池田", "イケダ"),
    n("橋本", "ハシモト"),
    n("阿部", "アベ"),
    n("石川", "イシカワ"),
    n("山下", "ヤマシタ"),
    n("中島", "ナカジマ"),
    n("石井", "イシイ"),
    n("小川", "オガワ"),
    n("前田", "マエダ"),
    n("岡田", "オカダ"),
    n("長谷川", "ハセガワ"),
    n("藤田", "フジタ"),
    n("後藤", "ゴトウ"),
    n("近藤", "コンドウ"),
    n("村上", "ムラカミ"),
    n("遠藤", "エンドウ"),
    n("青木", "アオキ"),
    n("坂本", "サカモト"),
    n("斉藤", "サイトウ"),
    n("福田", "フクダ"),
    n("太田", "オオタ"),
    n("西村", "ニシムラ"),
    n("藤井", "フジイ"),
    n("金子", "カネコ"),
    n("岡本", "オカモト"),
    n("藤原", "フジワラ"),
    n("中野", "ナカノ"),
    n("三浦", "ミウラ"),
    n("原田", "ハラダ"),
    n("中川", "ナカガワ"),
    n("松田", "マツダ"),
    n("竹内", "タケウチ"),
    n("小野", "オノ"),
    n("田村", "タムラ"),
    n("中山", "ナカヤマ"),
    n("和田", "ワダ"),
    n("石田", "イシダ"),
    n("森田", "モリタ"),
    n("上田", "ウエダ"),
    n("原", "ハラ"),
    n("内田", "ウチダ"),
    n("柴田", "シバタ"),
    n("酒井", "サカイ"),
    n("宮崎", "ミヤザキ"),
    n("横山", "ヨコヤマ"),
    n("高木", "タカギ"),
    n("安藤", "アンドウ"),
    n("宮本", "ミヤモト"),
    n("大野", "オオノ"),
    n("小島", "コジマ"),
    n("工藤", "クドウ"),
    n("谷口", "タニグチ"),
    n("今井", "イマイ"),
    n("高田", "タカダ"),
    n("丸山", "マルヤマ"),
    n("増田", "マスダ"),
    n("杉山", "スギヤマ"),
    n("村田", "ムラタ"),
    n("大塚", "オオツカ"),
    n("小山", "コヤマ"),
    n("平野", "ヒラノ"),
    n("藤本", "フジモト"),
    n("久保", "クボ"),
    n("松井", "マツイ"),
    n("千葉", "チバ"),
    n("岩崎", "イワサキ"),
    n("桜井", "サクライ"),
    n("木下", "キノシタ"),
    n("野口", "ノグチ"),
    n("松尾", "マツオ"),
    n("菊地", "キクチ"),
    n("野村", "ノムラ"),
    n("新井", "アライ"),
    n("渡部", "ワタナベ"),
    n("比嘉", "ヒガ"),
    n("金城", "キンジョウ"),
    n("大城", "オオシロ"),
    n("菅原", "スガワラ"),
];

/// Given names by sex (0 male, 1 female) and generation (0 born up to 1955,
/// 1 born 1956–1985, 2 born later), so that a 90-year-old is not called 陽翔.
pub(super) const GIVEN_NAMES: [[[Name; 20]; 3]; 2] = [
    [
        [
            n("清", "キヨシ"),
            n("茂", "シゲル"),
            n("勇", "イサム"),
            n("博", "ヒロシ"),
            n("正", "タダシ"),
            n("実", "ミノル"),
            n("進", "ススム"),
            n("勝", "マサル"),
            n("三郎", "サブロウ"),
            n("次郎", "ジロウ"),
            n("和夫", "カズオ"),
            n("正雄", "マサオ"),
            n("昭", "アキラ"),
            n("豊", "ユタカ"),
            n("武", "タケシ"),
            n("稔", "ミノル"),
            n("弘", "ヒロシ"),
            n("一郎", "イチロウ"),
            n("義雄", "ヨシオ"),
            n("秀夫", "ヒデオ"),
        ],
        [
            n("誠", "マコト"),
            n("浩", "ヒロシ"),
            n("隆", "タカシ"),
            n("修", "オサム"),
            n("明", "アキラ"),
            n("健一", "ケンイチ"),
            n("直樹", "ナオキ"),
            n("哲也", "テツヤ"),
            n("剛", "ツヨシ"),
            n("学", "マナブ"),
            n("達也", "タツヤ"),
            n("和也", "カズヤ"),
            n("大輔", "ダイスケ"),
            n("拓也", "タクヤ"),
            n("健", "ケン"),
            n("雄一", "ユウイチ"),
            n("秀樹", "ヒデキ"),
            n("太郎", "タロウ"),
            n("聡", "サトシ"),
            n("浩二", "コウジ"),
        ],
        [
            n("翔太", "ショウタ"),
            n("大樹", "ダイキ"),
            n("翔", "ショウ"),
            n("蓮", "レン"),
            n("湊", "ミナト"),
            n("大翔", "ヒロト"),
            n("陽翔", "ハルト"),
            n("悠真", "ユウマ"),
            n("颯太", "ソウタ"),
            n("陸", "リク"),
            n("悠人", "ユウト"),
            n("樹", "イツキ"),
            n("蒼", "アオイ"),
            n("律", "リツ"),
            n("健太", "ケンタ"),
            n("亮", "リョウ"),
            n("俊介", "シュンスケ"),
            n("拓海", "タクミ"),
            n("大和", "ヤマト"),
            n("悠斗", "ユウト"),
        ],
    ],
    [
        [
            n("和子", "カズコ"),
            n("幸子", "サチコ"),
            n("節子", "セツコ"),
            n("洋子", "ヨウコ"),
            n("美代子", "ミヨコ"),
            n("久子", "ヒサコ"),
            n("京子", "キョウコ"),
            n("恵子", "ケイコ"),
            n("清子", "キヨコ"),
            n("文子", "フミコ"),
            n("静子", "シズコ"),
            n("春子", "ハルコ"),
            n("千代子", "チヨコ"),
            n("光子", "ミツコ"),
            n("弘子", "ヒロコ"),
            n("澄子", "スミコ"),
            n("悦子", "エツコ"),
            n("百合子", "ユリコ"),
            n("正子", "マサコ"),
            n("良子", "ヨシコ"),
        ],
        [
            n("陽子", "ヨウコ"),
            n("裕子", "ユウコ"),
            n("真由美", "マユミ"),
            n("智子", "トモコ"),
            n("直美", "ナオミ"),
            n("久美子", "クミコ"),
            n("恵美", "エミ"),
            n("由美子", "ユミコ"),
            n("明美", "アケミ"),
            n("美香", "ミカ"),
            n("愛", "アイ"),
            n("恵", "メグミ"),
            n("香織", "カオリ"),
            n("麻衣", "マイ"),
            n("彩", "アヤ"),
            n("亜希子", "アキコ"),
            n("純子", "ジュンコ"),
            n("典子", "ノリコ"),
            n("幸恵", "ユキエ"),
            n("理恵", "リエ"),
        ],
        [
            n("美咲", "ミサキ"),
            n("陽菜", "ヒナ"),
            n("結衣", "ユイ"),
            n("葵", "アオイ"),
            n("さくら", "サクラ"),
            n("凛", "リン"),
            n("結菜", "ユイナ"),
            n("芽依", "メイ"),
            n("紬", "ツムギ"),
            n("莉子", "リコ"),
            n("杏", "アン"),
            n("愛莉", "アイリ"),
            n("彩花", "アヤカ"),
            n("七海", "ナナミ"),
            n("花子", "ハナコ"),
            n("優奈", "ユウナ"),
            n("美羽", "ミウ"),
            n("心春", "コハル"),
            n("咲希", "サキ"),
            n("菜々子", "ナナコ"),
        ],
    ],
];

/// First halves of generated place names (cities and districts).
pub(super) const PLACE_HEADS: [&str; 40] = [
    "青", "赤", "朝", "東", "西", "南", "北", "大", "小", "高", "中", "上", "下", "新", "本", "古",
    "長", "宮", "松", "竹", "梅", "桜", "富", "福", "豊", "若", "白", "黒", "金", "石", "緑", "春",
    "秋", "平", "岩", "鶴", "亀", "栄", "清", "久",
];

/// Second halves of generated place names.
pub(super) const PLACE_TAILS: [&str; 25] = [
    "川", "田", "山", "野", "原", "沢", "崎", "島", "浜", "岡", "津", "谷", "井", "瀬", "尾", "木",
    "森", "見", "宮", "台", "丘", "里", "坂", "橋", "江",
];

/// Number of distinct generated place names.
pub(super) const PLACE_COUNT: usize = PLACE_HEADS.len() * PLACE_TAILS.len();

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
pub(super) const INDUSTRIES: [&str; 30] = [
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
    "銀行",
    "証券",
    "保険",
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
        let names = FAMILY_NAMES
            .iter()
            .chain(GIVEN_NAMES.iter().flatten().flatten());
        for name in names {
            assert!(plain(name.kanji) && plain(name.kana));
        }
        let words = PLACE_HEADS
            .iter()
            .chain(&PLACE_TAILS)
            .chain(&COMPANY_STEMS)
            .chain(&INDUSTRIES)
            .chain(&NHI_TRADES)
            .chain(&FORCES);
        for word in words {
            assert!(plain(word));
        }
        for (a, b) in &MINISTRIES {
            assert!(plain(a) && plain(b));
        }
    }

    #[test]
    fn municipality_counts_are_national_scale() {
        let total: u32 = PREFECTURES
            .iter()
            .map(|p| u32::from(p.municipalities))
            .sum();
        assert!((1_700..1_800).contains(&total), "{total}");
        assert!(PREFECTURES.iter().all(|p| p.postal + 9 <= 999));
    }
}
