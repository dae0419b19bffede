package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/yrd-epermit/epermit/division"
)

// Parts of synthetic addresses: names common to many towns, not any one
// place's list.
var (
	roads       = newWeighted(`人民 解放 中山 建设 和平 新华 文化 胜利 青年 光明 朝阳 东风 长江 复兴 环城 公园 学府 工业 迎宾 滨江 湖滨 站前 兴业 振兴 育才 健康 花园 沿河`)
	subdistrict = newWeighted(`城东 城南 城西 城北 新城 东关 南湖 滨江 江北 北门 河西 开元`)
	communities = newWeighted(`阳光 锦绣 金色 幸福 和谐 翠苑 桂花 华庭 江南 新城 碧水 春晖 紫荆 绿洲 东方 明珠 香樟 海棠`)
	estates     = newWeighted(`小区:3 花园:2 家园:2 苑:1 公寓:1 新村:1`)
	towns       = newWeighted(`城关 新集 马店 李庄 高桥 双河 白沙 石桥 柳林 黄岗 杨湖 王集 河口 三里 青山 大桥 龙泉 新港`)
	villages    = newWeighted(`东庄 西湾 前进 红星 大王 小李 张楼 刘营 后圩 新河 桥头 杨树 沙岗 团结 长岭 东岗`)
)

// hukouAddress is an address in d as household registers write it: a
// street address in a district, a village address in a county or
// county-level city.
func hukouAddress(rng *rand.Rand, d division.Division) string {
	if strings.HasSuffix(d.Name, "区") {
		return fmt.Sprintf("%s%s路%d号", d.FullName(), roads.draw(rng), 1+rng.IntN(300))
	}
	return fmt.Sprintf("%s%s镇%s村%d组%d号", d.FullName(), towns.draw(rng), villages.draw(rng), 1+rng.IntN(12), 1+rng.IntN(80))
}

// residenceAddress is a flat in a residential estate in d.
func residenceAddress(rng *rand.Rand, d division.Division) string {
	return fmt.Sprintf("%s%s街道%s路%d号%s%s%d幢%d%02d室", d.FullName(), subdistrict.draw(rng), roads.draw(rng),
		1+rng.IntN(500), communities.draw(rng), estates.draw(rng), 1+rng.IntN(30), 1+rng.IntN(26), 1+rng.IntN(4))
}
