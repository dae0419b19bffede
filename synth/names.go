package synth

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/yrd-epermit/epermit/citizenid"
)

// weighted is a list of strings drawn with given weights.
type weighted struct {
	items []string
	cum   []int // cum[i] is the sum of the weights of items[:i+1]
}

// newWeighted parses "item:weight item:weight ..."; an item without a
// weight has weight 1. A malformed table is a programming mistake, so it
// panics.
func newWeighted(spec string) weighted {
	var w weighted
	total := 0
	for _, f := range strings.Fields(spec) {
		item, weight, found := strings.Cut(f, ":")
		n := 1
		if found {
			var err error
			if n, err = strconv.Atoi(weight); err != nil || n < 1 {
				panic("synth: bad weight in " + f)
			}
		}
		total += n
		w.items = append(w.items, item)
		w.cum = append(w.cum, total)
	}
	return w
}

// draw returns an item with probability proportional to its weight.
func (w weighted) draw(rng *rand.Rand) string {
	x := rng.IntN(w.cum[len(w.cum)-1])
	return w.items[sort.SearchInts(w.cum, x+1)]
}

// surnames are common Chinese surnames, weighted roughly by how many
// people bear them (per ten thousand).
var surnames = newWeighted(`王:710 李:700 张:660 刘:540 陈:460 杨:310 黄:250 赵:230 吴:200
	周:190 徐:150 孙:150 马:140 朱:130 胡:120 郭:120 何:120 高:110 林:110 罗:110 郑:100 梁:100
	谢:80 宋:80 唐:80 许:70 韩:70 冯:70 邓:70 曹:70 彭:60 曾:60 肖:60 田:60 董:60 袁:50 潘:50
	于:50 蒋:50 蔡:50 余:50 杜:50 叶:50 程:50 苏:40 魏:40 吕:40 丁:40 任:40 沈:40 姚:40 卢:40
	姜:40 崔:40 钟:40 谭:30 陆:30 汪:30 范:30 金:30 石:30 廖:30 贾:30 夏:30 韦:30 付:30 方:30
	白:30 邹:30 孟:30 熊:30 秦:30 邱:30 江:30 尹:30 薛:20 闫:20 段:20 雷:20 侯:20 龙:20 史:20
	陶:20 黎:20 贺:20 顾:20 毛:20 郝:20 龚:20 邵:20 万:20 钱:20 严:20 武:20 戴:20 孔:20 汤:20
	欧阳:2 司马:1 上官:1`)

// givenChars are characters common in given names, by sex.
var givenChars = map[citizenid.Sex]weighted{
	citizenid.Male: newWeighted(`伟 强 磊 军 勇 杰 涛 明 超 斌 鹏 辉 华 飞 波 刚 平 峰 俊 浩 宇 轩 博
		文 志 建 国 海 东 林 鑫 凯 晨 阳 昊 天 子 嘉 睿 泽 航 瑞 成 龙 星 毅 诚 健 亮 振 宏 家 永`),
	citizenid.Female: newWeighted(`芳 娜 敏 静 丽 艳 娟 霞 燕 玲 婷 雪 慧 琳 颖 倩 洁 欣 怡 萍 红 梅 莉
		兰 佳 雨 梦 诗 思 涵 琪 悦 彤 晓 雅 馨 月 蕾 露 秀 子 可 一 嘉 文 欢`),
}

// givenName returns a given name of one character (a quarter of the time)
// or two.
func givenName(rng *rand.Rand, sex citizenid.Sex) string {
	chars := givenChars[sex]
	if rng.IntN(4) == 0 {
		return chars.draw(rng)
	}
	return chars.draw(rng) + chars.draw(rng)
}

// ethnicities are the ethnic groups (民族) as written on identity cards,
// weighted roughly by population share (per thousand).
var ethnicities = newWeighted(`汉:915 壮:14 回:8 维吾尔:8 苗:8 满:7 彝:7 土家:7 藏:5 蒙古:4 布依:3
	侗:2 瑶:2 白:1 哈尼:1 朝鲜:1 畲:1`)
