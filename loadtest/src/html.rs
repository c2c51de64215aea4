use crate::summary::Summary;
pub fn render(_summary: &Summary) -> String {
    String::new()
}
